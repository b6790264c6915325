"""Partials inserted since a mark: the leader's jobs read what changed since their last run.

Every partial row carries ``inserted_at``, the store's clock when it was written (with a minmax
index, so a recent range skips the older parts). A job keeps a mark, :func:`next_mark` of the
worker's clock when it last read, and asks for the rows inserted at or after it; the
:data:`CLOCK_MARGIN` covers the store's clock against the worker's and an insert that becomes
visible a moment after its ``inserted_at``, so a row is read twice rather than never.

>>> next_mark(1000.0)
995.0
"""

from __future__ import annotations

from monitor.adapters.reader import Reader
from monitor.contract.timestamps import utc_datetime

__all__ = ["CLOCK_MARGIN", "inserted_since", "next_mark"]

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
