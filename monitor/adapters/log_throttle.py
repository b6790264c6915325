"""Throttle the warnings and errors third-party clients repeat while a service is gone.

With its broker gone, aiokafka logs every failed connection, metadata update, fetch and coordinator
lookup: about 150 lines a second, hundreds of thousands an hour, hiding everything else. The
filter lets the first record of a logger and message template through, then at most one per
``interval`` seconds, which says how many it stood for. The template (``record.msg``), not the
formatted text, is the key: the same failure at another host or port is the same line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["THROTTLED_LOGGERS", "LogThrottle", "throttle_handlers"]

THROTTLED_LOGGERS = ("aiokafka", "faust")  # third-party clients; our monitor.* and streams.* never
_MAX_KEYS = 1024  # templates remembered before those outside their interval are forgotten


class LogThrottle(logging.Filter):
    """At most one record per ``interval`` seconds per logger and template, at ``level`` and above,
    from the ``loggers`` (and their children); other records pass untouched.

    >>> now = [0.0]
    >>> throttle = LogThrottle(interval=10.0, clock=lambda: now[0])
    >>> def record(host):
    ...     return logging.makeLogRecord({"name": "aiokafka.conn", "levelno": logging.ERROR,
    ...                                   "msg": "Unable connect to %s", "args": (host,)})
    >>> throttle.filter(record("a")), throttle.filter(record("b"))
    (True, False)
    >>> now[0] = 10.0
    >>> passed = record("c")
    >>> throttle.filter(passed), passed.getMessage()
    (True, 'Unable connect to c (1 similar messages suppressed in the last 10 s)')
    """

    def __init__(
        self,
        interval: float = 10.0,
        loggers: tuple[str, ...] = THROTTLED_LOGGERS,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        if interval <= 0:
            raise ValueError(f"interval: {interval!r} is not a positive number of seconds")
        self.interval, self.loggers, self.level, self.clock = interval, loggers, level, clock
        self._passed_at: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()  # Faust's consumer thread logs too

    def throttles(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is one this filter may hold back."""
        name = record.name
        return record.levelno >= self.level and any(
            name == logger or name.startswith(f"{logger}.") for logger in self.loggers
        )

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.throttles(record):
            return True
        decided = record.__dict__.get("_throttle_passed")
        if decided is not None:  # one record, several handlers: one decision
            return bool(decided)
        with self._lock:
            passed = self._decide(record)
        record.__dict__["_throttle_passed"] = passed
        return passed

    def _decide(self, record: logging.LogRecord) -> bool:
        key, now = (record.name, str(record.msg)), self.clock()
        passed_at = self._passed_at.get(key)
        if passed_at is not None and now - passed_at < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        suppressed = self._suppressed.pop(key, 0)
        if suppressed and passed_at is not None:
            record.msg = (
                f"{record.msg} ({suppressed} similar messages suppressed "
                f"in the last {now - passed_at:.0f} s)"
            )
        if len(self._passed_at) >= _MAX_KEYS:
            self._forget_before(now - self.interval)
        self._passed_at[key] = now
        return True

    def _forget_before(self, cutoff: float) -> None:
        for key in [k for k, at in self._passed_at.items() if at <= cutoff]:
            del self._passed_at[key]
            self._suppressed.pop(key, None)


def throttle_handlers(logger: logging.Logger, throttle: LogThrottle) -> None:
    """Put ``throttle`` on each of ``logger``'s handlers (again after logging is set up anew): a
    filter on the handler sees the records of every child logger, one on a logger only its own."""
    for handler in logger.handlers:
        handler.addFilter(throttle)
