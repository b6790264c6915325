"""Offset markers with their log identity and epoch, on embedded ClickHouse; migration of an old store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from monitor.adapters.clickhouse_store import PARTIAL_COLUMNS, ClickHouseStore
from monitor.adapters.outcome_store import OutcomeStore
from monitor.adapters.schema import DDL
from monitor.folding.partials import Partial
from monitor.folding.pipeline import Position


def new_store(chdb_dir) -> ClickHouseStore:
    return ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()


def test_an_old_store_is_migrated_and_its_positions_read_as_epoch_0(chdb_dir):
    store = new_store(chdb_dir)
    for statement in DDL:  # the tables as a release before position epochs created them
        store.command(statement.format(db=store.db))
    assert "position_epoch" not in {
        r["name"] for r in store.query(f"DESCRIBE TABLE {store.db}.partials").dicts()
    }
    epoch0 = datetime.fromtimestamp(0, UTC)
    store.insert(
        "partials",
        [
            [
                "inf",
                0,
                41,
                epoch0,
                0,
                "",
                "",
                "__offsets",
                "",
                0.0,
                0.0,
                datetime.fromtimestamp(900, UTC),
            ]
        ],
        PARTIAL_COLUMNS,
    )
    OutcomeStore(store).store.insert(
        "detector_state",
        [["inf", 0, "m", "v1", 41, b"old".hex()]],
        ["src_topic", "src_partition", "model", "model_version", "last_offset", "state"],
    )
    store.migrate()
    store.migrate()  # idempotent
    assert store.position("inf", 0) == Position(41, 900.0, 0, "")
    assert OutcomeStore(store).load_version_states("inf", [("m", "v1")]) == {
        ("m", "v1"): (41, b"old")
    }


def test_the_newest_epoch_wins_over_higher_offsets_of_older_ones(chdb_dir):
    store = new_store(chdb_dir)
    store.migrate()
    assert store.position("inf", 0) == Position(-1, 0.0)
    part = Partial(60.0, 60, "m", "v1", "inference_events", "", 1.0, 1.0, 1000.0)
    store.write_batch({("inf", 0): (500, 1000.0, [part])}, {("inf", 0): (0, "c/t1")})
    store.write_batch({("inf", 0): (7, 950.0, [part])}, {("inf", 0): (1, "c/t2")})
    assert store.position("inf", 0) == Position(
        7, 1000.0, 1, "c/t2"
    )  # watermark: the largest of all epochs
    assert store.read_position("inf", 0) == (7, 1000.0)


def test_positions_of_several_sources_read_in_one_query_equal_each_ones_position(chdb_dir):
    store = new_store(chdb_dir)
    store.migrate()
    store.write_batch(
        {("inf", 0): (5, 100.0, []), ("fb", 1): (7, 50.0, [])}, {("inf", 0): (2, "x")}
    )
    store.write_batch({("inf", 0): (9, 90.0, [])}, {("inf", 0): (3, "y")})
    sources = [("inf", 0), ("fb", 1), ("inf", 1)]
    found = store.positions(sources)
    assert found == {
        ("inf", 0): Position(9, 100.0, 3, "y"),
        ("fb", 1): Position(7, 50.0, 0, ""),
        ("inf", 1): Position(-1, 0.0),
    }
    assert found == {s: store.position(*s) for s in sources}


def test_connecting_imports_what_the_first_insert_would(tmp_path):
    # clickhouse-connect imports pandas lazily on its first insert (~0.3 s): a worker's first batch
    # must not wait for it, so the store's connect() does it. A fresh interpreter, so nothing else
    # of the test session has imported pandas already.
    import subprocess
    import sys

    code = (
        "import sys; from monitor.adapters.clickhouse_store import ClickHouseStore; "
        f"ClickHouseStore('chdb://{tmp_path}').connect(); print('pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
