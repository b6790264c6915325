"""Start a Faust worker process for the monitor app."""

from __future__ import annotations

import logging

from monitor.settings import Settings

__all__ = ["run_worker"]


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Open and migrate the store, then run the Faust worker until it is stopped."""
    import faust

    from streams.access import check_web_bind
    from streams.app import create_app
    from streams.wiring import Wiring

    check_web_bind(settings)  # before anything opens: a non-loopback web port needs MONITOR_WEB_TOKEN
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    level = {"crit": "CRITICAL", "warn": "WARNING"}.get(loglevel, loglevel.upper())
    logging.getLogger("monitor").setLevel(level)
    wiring = Wiring.build(settings)
    wiring.open_store()
    wiring.open_join_store()
    try:
        app = create_app(settings, wiring)
        faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
    finally:
        wiring.close()
