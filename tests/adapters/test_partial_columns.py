"""The column-oriented insert of a batch stores what the row-oriented one stored, and refuses what it refused."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.adapters.clickhouse_store import OFFSET_MARKER, PARTIAL_COLUMNS, ClickHouseStore
from monitor.adapters.partial_columns import datetime64_ms
from monitor.contract.timestamps import utc_datetime
from monitor.errors import StoreError
from monitor.folding.partials import Partial

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
COLUMNS = [*PARTIAL_COLUMNS, "position_epoch", "src_identity"]
# times whose milliseconds a careless conversion gets wrong: rounding up into the next second,
# milliseconds truncated (not rounded), half a millisecond, just below 2**32 s, the epoch itself
EDGE_TIMES = [1767225600.9999996, 1767225600.0009, 1767225600.0005, 4294967295.9999, 0.0, 1e-7]


@pytest.fixture()
def store(chdb_dir) -> ClickHouseStore:
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    return store


def partials(times: list[float]) -> list[Partial]:
    return [
        Partial(t, 60 + i, f"m{i % 2}", "v1", f"hist:f{i}", str(i), 1.5 * i, 2.0, t + 1.0)
        for i, t in enumerate(times)
    ]


def rows_as_before(topic: str, batch: dict, logs: dict) -> list[list]:
    """The rows the row-oriented insert sent (datetimes from utc_datetime), refused as it refused them."""
    rows = []
    try:
        for source, (last, watermark, parts) in batch.items():
            extra = list(logs.get(source, (0, "")))
            rows.append(
                [topic, source[1], last, utc_datetime(0), 0, "", "", OFFSET_MARKER, "", 0.0, 0.0]
                + [utc_datetime(max(watermark, 0.0)), *extra]
            )
            rows += [
                [topic, source[1], last, utc_datetime(p.window_start), p.window_seconds, p.model]
                + [p.model_version, p.name, p.bucket, p.count, p.total]
                + [utc_datetime(p.max_event_time), *extra]
                for p in parts
            ]
    except (ValueError, OverflowError, OSError) as exc:
        raise StoreError(f"partial rows cannot be encoded: {exc}", retryable=False) from exc
    return rows


def stored(store: ClickHouseStore, topic: str) -> list[tuple]:
    return store.query(
        "SELECT * EXCEPT (src_topic, inserted_at) FROM "
        f"{store.table('partials')} WHERE src_topic = {{t:String}} ORDER BY src_partition, name, bucket",
        {"t": topic},
    ).rows


@pytest.mark.parametrize("times", [EDGE_TIMES, [*EDGE_TIMES, 5e9]], ids=["ms", "datetimes"])
def test_the_columns_store_what_the_rows_stored(store, times):
    """Beyond 2**32 s the whole column goes as datetimes, as the rows did."""
    batch = {
        ("cols", 0): (41, 1767225700.25, partials(times)),
        ("cols", 3): (7, -5.0, partials([1767225600.5, 1767225601.0])),  # a watermark below 0
        ("cols", 4): (0, 0.0, []),
    }
    logs = {("cols", 0): (2, "c/t1")}  # partition 3 and 4 have none: epoch 0, no identity
    assert store.write_batch(batch, logs) == len(times) + 5
    store.insert("partials", rows_as_before("rows", batch, logs), COLUMNS)
    assert stored(store, "cols") == stored(store, "rows")
    assert len(stored(store, "cols")) == len(times) + 5


@pytest.mark.parametrize(
    "bad",
    [
        Partial(
            0.0, 60, "m\ud800", "v", "x", "", 1.0, 1.0, 100.0
        ),  # no encoder writes a lone surrogate
        Partial(1e12, 60, "m", "v", "x", "", 1.0, 1.0, 100.0),  # year 33658: no datetime
        Partial(60.0, 60, "m", "v", "x", "", 1.0, 1.0, math.nan),
        Partial(60.0, 1 << 40, "m", "v", "x", "", 1.0, 1.0, 100.0),  # beyond UInt32
        Partial(60.0, 60, "m", "v", "x", "", "1", 1.0, 100.0),  # a string count
    ],
)
def test_a_value_the_rows_could_not_write_fails_the_columns_and_the_probe_alike(store, bad):
    good = Partial(60.0, 60, "m", "v", "y", "", 1.0, 1.0, 100.0)
    batch = {("t", 0): (5, 100.0, [good, bad])}
    failures = []
    for attempt in (
        lambda: store.insert("partials", rows_as_before("t", batch, {}), COLUMNS),
        lambda: store.write_batch(batch, {}),
        lambda: store.probe_batch(batch),
    ):
        with pytest.raises(Exception) as caught:
            attempt()
        failures.append((type(caught.value), getattr(caught.value, "retryable", None)))
    assert failures[0] == failures[1] == failures[2]
    assert failures[0] != (StoreError, True)  # refused data, never an outage to retry
    store.probe_batch({("t", 0): (5, 100.0, [good])})  # a good batch passes the probe
    assert store.position("t", 0).last_offset == -1  # nothing was written


@given(st.lists(st.floats(min_value=0.0, max_value=2.0**32, exclude_max=True), max_size=20))
def test_milliseconds_equal_those_of_the_datetimes(seconds):
    expected = [(utc_datetime(s) - EPOCH) // timedelta(milliseconds=1) for s in seconds]
    assert datetime64_ms(seconds) == expected
