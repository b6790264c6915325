"""Partials inserted since a mark: the leader's jobs read what changed since their last run.

Every partial row carries ``inserted_at``, the store's clock when it was written (with a minmax
index, so a recent range skips the older parts). A job keeps a mark, :func:`next_mark` of the
worker's clock when it last read, and asks for the rows inserted at or after it; the
:data:`CLOCK_MARGIN` covers the store's clock against the worker's and an insert that becomes
visible a moment after its ``inserted_at``, so a row is read twice rather than never.

>>> next_mark(1000.0)
995.0

The margin holds while the store's clock is not more than a few seconds behind the worker's; a
worker says so at start when it is (:func:`clock_skew`, :func:`skew_warning`).
"""

from __future__ import annotations

import time

from monitor.adapters.reader import Reader
from monitor.contract.timestamps import utc_datetime

__all__ = ["CLOCK_MARGIN", "clock_skew", "inserted_since", "next_mark", "skew_warning"]

CLOCK_MARGIN = 5.0  # seconds a job's mark stays behind the worker's clock


def next_mark(now: float) -> float:
    """The mark a job that reads at ``now`` keeps for its next run."""
    return now - CLOCK_MARGIN


def inserted_since(reader: Reader, db: str, prefix: str, since: float) -> bool:
    """Whether a partial whose name starts with ``prefix`` was inserted at or after ``since``."""
    rows = reader.query(
        f"SELECT 1 FROM {db}.partials WHERE inserted_at >= {{since:DateTime64(3)}} "
        "AND startsWith(name, {prefix:String}) LIMIT 1",
        {"since": utc_datetime(since), "prefix": prefix},
    ).rows
    return bool(rows)


def clock_skew(reader: Reader) -> float:
    """The store's clock minus this process's, in seconds (against the middle of the round trip)."""
    before = time.time()
    store_now = float(reader.query("SELECT toFloat64(now64(3))").rows[0][0])
    return store_now - (before + time.time()) / 2


def skew_warning(skew: float) -> str | None:
    """What a worker says at start when the store's clock is behind its own by more than a second
    (of the :data:`CLOCK_MARGIN`, the rest is for inserts becoming visible); None otherwise. A store
    ahead of the worker only makes the jobs read a few rows twice.

    >>> skew_warning(-0.3) is None, skew_warning(42.0) is None
    (True, True)
    >>> print(skew_warning(-12.5))
    the store's clock is 12.5 s behind this worker's: the leader's jobs read the partials inserted \
since 5 s before their last run by the worker's clock, so beyond that they miss some (metric \
windows, drift, experiments, shadow comparisons); keep both clocks in sync (NTP)
    """
    if skew >= -1.0:
        return None
    return (
        f"the store's clock is {-skew:.1f} s behind this worker's: the leader's jobs read the "
        f"partials inserted since {CLOCK_MARGIN:g} s before their last run by the worker's clock, "
        "so beyond that they miss some (metric windows, drift, experiments, shadow comparisons); "
        "keep both clocks in sync (NTP)"
    )
