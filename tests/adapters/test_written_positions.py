"""The owner of an embedded store checks a batch's positions without a query, and stays exact:
writes through other store objects, a remote worker and plain inserts advance what it knows;
deletes, schema changes and a TTL make it query again; a store that is not the owner always queries."""

from __future__ import annotations

import uuid

import pytest
from tests_support import serve_store

from monitor.adapters.clickhouse_store import OFFSET_MARKER, PARTIAL_COLUMNS, ClickHouseStore
from monitor.adapters.remote_store import RemoteStore
from monitor.adapters.written_positions import written_positions
from monitor.contract.timestamps import utc_datetime
from monitor.errors import PositionMoved, StoreError
from monitor.folding.partials import Partial
from monitor.folding.pipeline import Position

SRC = ("inf", 0)
PART = Partial(60.0, 60, "m", "v1", "inference_events", "", 1.0, 1.0, 100.0)


@pytest.fixture()
def url(chdb_dir) -> str:
    return f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def store(url) -> ClickHouseStore:
    store = ClickHouseStore(url).connect()
    store.migrate()
    return store


class QueryCount:
    """Counts the queries a store's clickhouse-connect client runs (the real client still runs them)."""

    def __init__(self, store: ClickHouseStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.n = 0
        real = store.client.query

        def counting(*args, **kwargs):
            self.n += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(store.client, "query", counting)


def write(store: ClickHouseStore, offset: int, expected: tuple[int, int], epoch: int = 0) -> None:
    store.write_batch({SRC: (offset, 100.0, [PART])}, {SRC: (epoch, "c/t")}, {SRC: expected})


def known(store: ClickHouseStore) -> dict:
    """What the owner knows, next to what a query reads."""
    cached = written_positions(str(store.target.path), store.db).known([SRC])
    stored = store.position(*SRC)
    return {"cached": cached.get(SRC), "stored": (stored.epoch, stored.last_offset)}


def test_the_owner_checks_the_positions_it_wrote_without_a_query(store, monkeypatch):
    write(store, 4, (0, -1))  # unknown until then: read by one query, then known
    queries = QueryCount(store, monkeypatch)
    write(store, 9, (0, 4))
    write(store, 0, (1, -1), epoch=1)  # a new epoch
    with pytest.raises(PositionMoved, match="at epoch 1 offset 0"):
        write(store, 12, (0, 9))  # a stale writer of the old epoch
    write(store, 5, (1, 0), epoch=1)
    assert queries.n == 0
    assert known(store) == {"cached": (1, 5), "stored": (1, 5)}


def test_writes_through_another_store_object_and_a_remote_worker_are_known(store, url):
    write(store, 4, (0, -1))
    other = ClickHouseStore(url).connect()  # a second object on the same engine and database
    write(other, 6, (0, 4))
    with pytest.raises(PositionMoved):
        write(store, 6, (0, 4))  # what ``other`` wrote is known to ``store``
    server = serve_store(store)
    try:
        remote = RemoteStore(store.url, f"http://127.0.0.1:{server.server_port}")
        write(remote, 8, (0, 6))  # checked and written by the owner
        with pytest.raises(PositionMoved):
            write(remote, 8, (0, 6))
    finally:
        server.shutdown()
        server.server_close()
    write(store, 10, (0, 8))
    assert known(store) == {"cached": (0, 10), "stored": (0, 10)}


def test_a_plain_insert_of_markers_is_known_and_a_delete_is_queried_again(store, monkeypatch):
    write(store, 4, (0, -1))
    marker = [
        "inf",
        0,
        20,
        utc_datetime(0),
        0,
        "",
        "",
        OFFSET_MARKER,
        "",
        0.0,
        0.0,
        utc_datetime(1),
    ]
    store.insert("partials", [marker], PARTIAL_COLUMNS)  # epoch 0 (the column's default), offset 20
    with pytest.raises(PositionMoved, match="offset 20"):
        write(store, 5, (0, 4))
    assert known(store) == {"cached": (0, 20), "stored": (0, 20)}

    store.command(  # a mutation applied before the command returns
        f"ALTER TABLE {store.table('partials')} DELETE WHERE last_offset = 20 "
        "SETTINGS mutations_sync = 1"
    )
    queries = QueryCount(store, monkeypatch)
    write(store, 5, (0, 4))  # the delete made the owner forget: it queries, and sees offset 4
    assert queries.n == 2  # the position, and whether partials has a TTL now
    assert known(store) == {"cached": (0, 5), "stored": (0, 5)}


@pytest.mark.parametrize(
    "sql", ["TRUNCATE TABLE {partials}", "SELECT 1; TRUNCATE TABLE {partials}"]
)  # chdb runs every statement of a query
def test_a_write_sent_as_a_query_is_not_missed(store, sql):
    write(store, 4, (0, -1))
    store.query(sql.format(partials=store.table("partials")))
    write(store, 0, (0, -1))  # the truncated store is at offset -1 again
    assert known(store) == {"cached": (0, 0), "stored": (0, 0)}


def test_with_a_ttl_on_partials_every_check_queries(store, monkeypatch):
    store.command(
        f"ALTER TABLE {store.table('partials')} MODIFY TTL toDateTime(inserted_at) + INTERVAL 30 DAY"
    )
    write(store, 4, (0, -1))
    queries = QueryCount(store, monkeypatch)
    write(store, 5, (0, 4))
    write(store, 6, (0, 5))
    assert queries.n == 2


def test_an_insert_that_fails_forgets_its_sources(store, monkeypatch):
    write(store, 4, (0, -1))
    with pytest.raises(StoreError, match="insert into partials failed"):
        store.write_batch({SRC: (5, 100.0, [PART])}, {SRC: (1 << 40, "c/t")}, {SRC: (0, 4)})
    queries = QueryCount(store, monkeypatch)
    write(store, 5, (0, 4))
    assert queries.n == 1  # what the failed insert did is read back, not assumed


def test_a_store_that_is_not_the_owner_queries_before_every_insert(url, monkeypatch):
    server_store = ClickHouseStore("https://user:secret@127.0.0.1:1/monitor")
    assert server_store._written() is None  # a server: other processes write there

    class NotOwner(ClickHouseStore):
        caches_positions = False  # as RemoteStore, and as a server URL

    store = NotOwner(url).connect()
    store.migrate()
    write(store, 4, (0, -1))
    queries = QueryCount(store, monkeypatch)
    write(store, 5, (0, 4))
    write(store, 6, (0, 5))
    assert queries.n == 2
    assert store.position(*SRC) == Position(6, 100.0, 0, "c/t")
