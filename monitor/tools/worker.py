"""Start a Faust worker process for the monitor app."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading

from monitor.adapters.log_throttle import LogThrottle, throttle_handlers
from monitor.settings import Settings

__all__ = [
    "EXIT_FORCED",
    "GC_THRESHOLDS",
    "SHUTDOWN_DEADLINE",
    "configure_logging",
    "run_worker",
    "tune_gc",
]

SHUTDOWN_DEADLINE = 15.0  # seconds from SIGTERM / SIGINT to a forced exit
EXIT_FORCED = 75  # as a stop with a batch not written: nothing committed that was not written
# A batch holds hundreds of thousands of young objects (events, their feature maps): with CPython's
# default (700, 10, 10) the collector ran thousands of times per 100,000 events, each full pass over
# every object alive, 10-20% of a batched worker's CPU (docs/BENCHMARKS.md). Every young collection
# walks the batch's live objects again, so it runs once per million allocations (about a batch of
# 100,000 events): 13.0 against 14.7 µs an event at 50,000 (`monitor bench --in-process`, batched).
# The batch steps make few reference cycles, so little garbage waits for it.
GC_THRESHOLDS = (1_000_000, 10, 10)


def tune_gc() -> None:
    """Freeze what start-up allocated (modules, settings, baselines: never garbage) out of the
    collector's passes, and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def configure_logging(loglevel: str) -> LogThrottle:
    """Log to stderr (until Faust's worker sets up its own handler), ``monitor.*`` at ``loglevel``,
    third-party clients' repeated warnings throttled; the throttle, for Faust's handler too."""
    logging.basicConfig(
        level=logging.INFO,
        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
    )
    level = {"crit": "CRITICAL", "warn": "WARNING"}.get(loglevel, loglevel.upper())
    logging.getLogger("monitor").setLevel(level)
    throttle = LogThrottle()
    throttle_handlers(logging.root, throttle)
    return throttle


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Open and migrate the store, then run the Faust worker until it is stopped."""
    import faust

    from monitor.adapters.aiokafka_stop import patch_fetcher_close
    from monitor.adapters.broker_check import check_broker
    from streams.access import check_web_bind
    from streams.app import create_app
    from streams.wiring import Wiring

    check_web_bind(
        settings
    )  # before anything opens: a non-loopback web port needs MONITOR_WEB_TOKEN
    throttle = configure_logging(loglevel)
    if settings.kafka_bootstrap:  # one error line naming the broker, not Faust's traceback
        asyncio.run(check_broker(settings))
    patch_fetcher_close()  # else a stop while the broker is gone waits for the deadline
    wiring = Wiring.build(settings)
    wiring.open_store()
    wiring.open_join_store()

    class DeadlineWorker(faust.Worker):
        """A Faust worker that a stop signal ends within SHUTDOWN_DEADLINE seconds, whatever hangs."""

        def _on_sigterm(self) -> None:
            _arm_shutdown_deadline()
            super()._on_sigterm()

        def _on_sigint(self) -> None:
            _arm_shutdown_deadline()
            super()._on_sigint()

        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            super().on_setup_root_logger(logger, level)
            throttle_handlers(logger, throttle)  # Faust replaced the root handlers at its start

    try:
        app = create_app(settings, wiring)
        wiring.store.resolve_insert_libraries()  # before the freeze: start-up, not the first batch
        tune_gc()
        DeadlineWorker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
    finally:
        wiring.close()


def _arm_shutdown_deadline() -> None:
    """Exit by force if the stop has not finished in time: a store call that hangs (a server that
    accepts and never answers) would otherwise hold the store thread, and the exit, for its whole
    client timeout. Nothing is lost: offsets not committed are read again, the store skips what it has."""

    def force() -> None:
        logging.getLogger("monitor.tools.worker").error(
            "stop did not finish within %.0f s; exiting now", SHUTDOWN_DEADLINE
        )
        logging.shutdown()
        os._exit(EXIT_FORCED)

    timer = threading.Timer(SHUTDOWN_DEADLINE, force)
    timer.daemon = True
    timer.start()
