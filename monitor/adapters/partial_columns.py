"""A consumed batch's partials as the columns of one column-oriented insert into ``partials``.

Each source partition contributes its offset marker row, then a row per partial. Times go in as
``DateTime64(3)`` milliseconds computed for the whole column at once; they equal what
clickhouse-connect stores for the datetimes of :func:`~monitor.contract.timestamps.utc_datetime`
(the row-oriented insert this replaces), and a column holding a time no datetime holds is
converted value by value, so it fails as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from monitor.contract.timestamps import utc_datetime
from monitor.errors import StoreError
from monitor.folding.partials import Partial

__all__ = [
    "OFFSET_MARKER",
    "PARTIAL_COLUMNS",
    "POSITION_COLUMNS",
    "datetime64_ms",
    "partial_columns",
]

# a row's source, then the fields of a Partial in their order (the columns are its fields transposed)
PARTIAL_COLUMNS = ["src_topic", "src_partition", "last_offset", *Partial._fields]
POSITION_COLUMNS = ["position_epoch", "src_identity"]
OFFSET_MARKER = "__offsets"
# Below 2**32 s (year 2106) a float's milliseconds are computed exactly as Python's datetime rounds
# them; beyond, or for anything but finite non-negative numbers, the datetimes are made one by one.
_DIRECT_BELOW = float(1 << 32)


def datetime64_ms(seconds: Sequence[Any]) -> list[int] | list[datetime]:
    """``DateTime64(3)`` values of epoch seconds: integer milliseconds (clickhouse-connect writes an
    int column as it is), the ones it computes from ``utc_datetime(s)`` (microseconds rounded half to
    even, then truncated to milliseconds); the datetimes themselves past the direct range.

    >>> datetime64_ms([0.0, 1767225600.0005, 1767225600.9999996])
    [0, 1767225600000, 1767225601000]
    >>> datetime64_ms([5e9])[0].year, datetime64_ms([-1.0])[0].year
    (2128, 1969)
    """
    values = np.array(seconds)
    if (
        values.ndim == 1
        and values.dtype.kind in "fi"
        and bool(np.all(values >= 0))  # NaN fails both comparisons
        and bool(np.all(values < _DIRECT_BELOW))
    ):
        whole = np.floor(values)
        micros = np.rint((values - whole) * 1e6)  # as datetime.fromtimestamp: half to even
        return (whole.astype(np.int64) * 1000 + micros.astype(np.int64) // 1000).tolist()
    return [utc_datetime(s) for s in seconds]


def partial_columns(
    partials_by_source: Mapping[tuple[str, int], tuple[int, float, Sequence[Partial]]],
    logs: Mapping[tuple[str, int], tuple[int, str]] | None,
) -> list[list[Any]]:
    """Columns of :data:`PARTIAL_COLUMNS`, then with ``logs`` :data:`POSITION_COLUMNS` (position
    epoch and log identity of each row's source, ``(0, "")`` when absent). Raises a non-retryable
    :class:`StoreError` for a time no datetime holds."""
    sources: list[list[Any]] = [[], [], []]  # topic, partition, last offset of each row
    fields: list[list[Any]] = [[] for _ in Partial._fields]  # one column per Partial field
    positions: list[list[Any]] = [[], []]  # position epoch and log identity of each row
    for source, (last_offset, watermark, partials) in partials_by_source.items():
        marker = Partial(0.0, 0, "", "", OFFSET_MARKER, "", 0.0, 0.0, max(watermark, 0.0))
        n = len(partials) + 1
        for column, value in zip(sources, (*source, last_offset)):
            column += [value] * n
        for column, values in zip(fields, zip(marker, *partials)):  # transposed at C speed
            column += values
        if logs is not None:
            for column, value in zip(positions, logs.get(source, (0, ""))):
                column += [value] * n
    starts, seconds, models, versions, names, buckets, counts, totals, ends = fields
    try:
        start_ms, end_ms = datetime64_ms(starts), datetime64_ms(ends)
    except (ValueError, OverflowError, OSError) as exc:  # a time no datetime holds
        raise StoreError(f"partial rows cannot be encoded: {exc}", retryable=False) from exc
    columns = [
        *sources,
        start_ms,
        seconds,
        models,
        versions,
        names,
        buckets,
        counts,
        totals,
        end_ms,
    ]
    return columns + positions if logs is not None else columns
