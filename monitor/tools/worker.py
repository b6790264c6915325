"""Start a Faust worker process for the monitor app."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
import time

from monitor.adapters.log_throttle import LogThrottle, throttle_handlers
from monitor.errors import ConfigError
from monitor.settings import Settings

__all__ = [
    "BROKER_GONE_AFTER",
    "BROKER_GONE_DEADLINE",
    "EXIT_FORCED",
    "GC_THRESHOLDS",
    "SHUTDOWN_DEADLINE",
    "configure_logging",
    "run_worker",
    "shutdown_deadline",
    "tune_gc",
]

SHUTDOWN_DEADLINE = 15.0  # seconds from SIGTERM / SIGINT to a forced exit
# The broker answers an idle fetch every 0.5 s: ten missed answers mean it is gone, and then a commit
# to it (aiokafka's, Faust's, at the stop) waits for ever; what remains of a stop takes 2 s.
BROKER_GONE_AFTER = 5.0
BROKER_GONE_DEADLINE = 5.0  # more than the 3 s a store call gets after a stop
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
    from monitor.adapters.kafka_refusals import topic_refusal
    from monitor.adapters.listen_check import check_listen
    from streams.access import check_web_bind
    from streams.agents import exit_refused
    from streams.app import create_app
    from streams.wiring import Wiring

    check_files(settings)  # before anything opens: a typo is one line, no store created
    check_web_bind(
        settings
    )  # before anything opens: a non-loopback web port needs MONITOR_WEB_TOKEN
    check_listen(settings.web_host, settings.web_port, "MONITOR_WEB_PORT")
    throttle = configure_logging(loglevel)
    if settings.kafka_bootstrap:  # one error line naming the broker, not Faust's traceback
        asyncio.run(check_broker(settings))
    patch_fetcher_close()  # else a stop while the broker is gone waits for the deadline
    wiring = Wiring.build(settings)
    wiring.open_store()
    wiring.open_join_store()

    class DeadlineWorker(faust.Worker):
        """A Faust worker that a stop signal ends within its deadline, whatever hangs."""

        def _on_sigterm(self) -> None:
            _arm_shutdown_deadline(wiring.broker_answered_at())
            super()._on_sigterm()

        def _on_sigint(self) -> None:
            _arm_shutdown_deadline(wiring.broker_answered_at())
            super()._on_sigint()

        async def _sentinel_task(self) -> None:
            await asyncio.sleep(0.1)  # mode gives the loop's last callbacks 1 s before closing it

        def _crash(self, reason: BaseException) -> None:
            refused = topic_refusal(
                reason,
                "the worker's Faust consumer",
                [settings.detector_values_topic, f"{settings.app_id}-__assignor-__leader"],
                "Read, Write and Describe",
            )
            if refused is not None:  # an ACL Faust met on its own topics: one line, what to grant
                exit_refused(
                    refused,
                    "its offsets as committed: a worker started once the broker grants it goes "
                    "on from them",
                )
            super()._crash(reason)

        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            super().on_setup_root_logger(logger, level)
            throttle_handlers(logger, throttle)  # Faust replaced the root handlers at its start

    try:
        app = create_app(settings, wiring)
        tune_gc()
        DeadlineWorker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
    finally:
        wiring.close()


def check_files(settings: Settings) -> None:
    """Read the alert rules and experiments files the leader will use: a bad one raises its
    :class:`~monitor.errors.ConfigError` now, before the store or the broker is touched."""
    from monitor.alerts.rules import configured_rules
    from monitor.experiments.config import load_experiments

    configured_rules(settings.alert_rules)  # its errors name MONITOR_ALERT_RULES
    if settings.experiments:
        value = settings.experiments if "\n" not in settings.experiments else "(YAML text)"
        try:
            load_experiments(settings.experiments)
        except ConfigError as exc:
            raise ConfigError(f"MONITOR_EXPERIMENTS={value}: {exc}") from None


def shutdown_deadline(broker_silent_for: float | None) -> float:
    """Seconds a stop may take, given how long the broker has not answered the ingest consumer's
    fetches (None: not known).

    >>> shutdown_deadline(None), shutdown_deadline(0.4), shutdown_deadline(23.0)
    (15.0, 15.0, 5.0)
    """
    if broker_silent_for is not None and broker_silent_for >= BROKER_GONE_AFTER:
        return BROKER_GONE_DEADLINE
    return SHUTDOWN_DEADLINE


def _arm_shutdown_deadline(broker_answered_at: float | None) -> None:
    """Exit by force if the stop has not finished in time: a store call that hangs (a server that
    accepts and never answers) would otherwise hold the store thread, and the exit, for its whole
    client timeout; a commit to a broker that is gone, for ever. Nothing is lost: offsets not
    committed are read again, the store skips what it has."""
    log = logging.getLogger("monitor.tools.worker")
    silent_for = None if broker_answered_at is None else time.time() - broker_answered_at
    deadline = shutdown_deadline(silent_for)
    if silent_for is not None and deadline < SHUTDOWN_DEADLINE:
        log.warning(
            "the broker has not answered for %.0f s: exiting within %.0f s even if an offset "
            "commit still waits for it (its messages are then read again and skipped)",
            silent_for,
            deadline,
        )

    def force() -> None:
        log.error("stop did not finish within %.0f s; exiting now", deadline)
        logging.shutdown()
        os._exit(EXIT_FORCED)

    timer = threading.Timer(deadline, force)
    timer.daemon = True
    timer.start()
