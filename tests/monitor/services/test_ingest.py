"""The ingest boundary on a real embedded store: refused messages are dead-lettered, the batch goes on,
outages are retried (never data errors), and a stop request ends the wait."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from redis_support import (
    OUTSIDER,
    OUTSIDER_PASSWORD,
    READER,
    READER_PASSWORD,
    PasswordRedis,
    primary_and_replica,
    redis_cluster_nodes,
)
from tests_support import inference, serve_store

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.join_store import MemoryJoinStore, RedisJoinStore
from monitor.adapters.local_broker import free_port
from monitor.adapters.remote_store import RemoteStore
from monitor.contract.reasons import INTERNAL_ERROR, UNWRITABLE
from monitor.errors import PositionMoved, StoreRefused
from monitor.folding.partials import Partial
from monitor.folding.pipeline import BatchConfig, Position, RawMessage
from monitor.services.ingest import (
    BatchIngest,
    IngestHealth,
    IngestStopped,
    RetryPolicy,
    ingest_batch,
)
from monitor.services.outcomes import OutcomeStage

NOW = 1_795_000_000.0
TOPIC = "inf"


def poison_fold(events, starts, window):
    """A fold bug: a partial whose model name no encoder can write, for the event named ``poison``."""
    return [
        Partial(0.0, window, "m\ud800", "v", "x", "", 1.0, 1.0, NOW)
        for e in events
        if e.request_id == "poison"
    ]


def message(offset: int, *request_ids: str) -> RawMessage:
    return RawMessage(
        TOPIC, 0, offset, orjson.dumps([inference(r, NOW - 10) for r in request_ids]), "inference"
    )


class Harness:
    def __init__(
        self,
        store: ClickHouseStore,
        join_store=None,
        folds=(),
        stop_after_sleeps: int | None = None,
    ):
        self.store = store
        stage = OutcomeStage(join_store or MemoryJoinStore(), window_seconds=60)
        self.steps = BatchIngest(store, stage, folds)
        self.dead: list = []
        self.sleeps: list[float] = []
        self.health = IngestHealth(failing_after=60)
        self.stop_after_sleeps = stop_after_sleeps

    async def positions_for(self, sources):
        return {src: Position(*self.store.read_position(*src)) for src in sources}

    async def send(self, rejections, now):
        self.dead += rejections

    async def blocking(self, fn, *args):
        return fn(*args)

    async def sleep(self, seconds):
        self.sleeps.append(seconds)

    def stopping(self) -> bool:
        return self.stop_after_sleeps is not None and len(self.sleeps) >= self.stop_after_sleeps

    def run(self, raw):
        config = BatchConfig(window_seconds=60, allowed_lateness=600, max_future_skew=300, now=NOW)
        return asyncio.run(
            ingest_batch(
                raw,
                self.steps,
                config_for=lambda: config,
                positions_for=self.positions_for,
                send_dead_letters=self.send,
                blocking=self.blocking,
                sleep=self.sleep,
                stopping=self.stopping,
                health=self.health,
                policy=RetryPolicy(),
            )
        )

    def written_events(self) -> float:
        return (
            self.store.query(
                f"SELECT sum(count) FROM {self.store.table('partials')} "
                "WHERE name = 'inference_events'"
            ).rows[0][0]
            or 0.0
        )


@pytest.fixture()
def store(chdb_dir) -> ClickHouseStore:
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    return store


def test_the_message_the_store_refuses_is_dead_lettered_and_the_rest_written(store):
    h = Harness(store, folds=[poison_fold])
    batch = [message(1, "a", "b"), message(2, "c"), message(3, "poison", "d"), message(4, "e")]
    result = h.run(batch)
    assert [(m.offset, r.reason) for m, r in h.dead] == [(3, UNWRITABLE)]
    assert (
        "surrogates not allowed" in h.dead[0][1].detail and h.dead[0][1].original == batch[2].value
    )
    assert h.written_events() == 4  # a, b, c, e
    assert result.out.sources[(TOPIC, 0)].last_offset == 4 and store.read_position(TOPIC, 0)[0] == 4
    assert h.sleeps == [] and h.health.report(NOW)[0]["status"] == "ok"


def test_the_last_message_of_a_partition_dead_lettered_is_still_covered_by_the_offsets(store):
    h = Harness(store, folds=[poison_fold])
    h.run([message(1, "a"), message(2, "poison")])
    assert store.read_position(TOPIC, 0)[0] == 2  # not read again after a restart
    h.run(
        [message(1, "a"), message(2, "poison"), message(3, "b")]
    )  # a replay: only offset 3 is new
    assert h.written_events() == 2 and [m.offset for m, _ in h.dead] == [2]


def test_an_outage_is_retried_with_backoff_until_the_stop(store):
    dead_redis = RedisJoinStore(f"redis://127.0.0.1:{free_port()}/0", prefix="t:")
    h = Harness(store, join_store=dead_redis, stop_after_sleeps=4)
    with pytest.raises(IngestStopped):
        h.run([message(1, "a")])
    assert h.sleeps == [0.5, 1.0, 2.0, 4.0]
    assert h.dead == [] and h.written_events() == 0  # nothing dead-lettered for an outage
    body, status = h.health.report(NOW)
    assert body["consecutive_failures"] == 4 and "unreachable" in body["last_error"]
    assert status == 200 if body["failing_for_seconds"] < 60 else status == 503


def test_a_refusal_no_message_explains_ends_in_the_dead_letter_topic_not_in_a_loop(store):
    # every write is refused (a constraint no row meets); reads and trial inserts still work
    store.command(
        f"ALTER TABLE {store.table('partials')} ADD CONSTRAINT never CHECK src_partition > 1000"
    )
    h = Harness(store, stop_after_sleeps=4)
    with pytest.raises(IngestStopped):
        h.run([message(1, "a"), message(2, "b")])
    assert sorted((m.offset, r.reason) for m, r in h.dead) == [
        (1, INTERNAL_ERROR),
        (2, INTERNAL_ERROR),
    ]
    assert "no single message explains it" in h.dead[0][1].detail
    # two backoffs, the third refusal dead-letters the batch; then only offset markers are left and
    # their refusal is the store's problem, retried as an outage
    assert h.sleeps == [0.5, 1.0, 2.0, 4.0]


@pytest.mark.parametrize("through", ["own store", "owner's /store"])
def test_a_clickhouse_user_the_store_refuses_stops_the_batch_and_dead_letters_nothing(
    store, through: str
):
    """A read-only ClickHouse user (READONLY, code 164): before, retried as an outage for ever;
    an ACCESS_DENIED or AUTHENTICATION_FAILED insert was dead-lettered, every batch of it."""
    store.command("SET readonly = 1")  # this store's session only, as a read-only profile would
    server = serve_store(store) if through == "owner's /store" else None
    target = (
        store
        if server is None
        else RemoteStore(store.url, f"http://127.0.0.1:{server.server_port}")
    )
    try:
        h = Harness(target, stop_after_sleeps=4)
        with pytest.raises(
            StoreRefused, match="ClickHouse refused MONITOR_CLICKHOUSE_URL's user .*READONLY"
        ):
            h.run([message(1, "a"), message(2, "b", "c")])
        assert h.dead == [] and h.sleeps == []  # nothing dead-lettered, nothing retried
        body, _ = h.health.report(NOW)
        assert body["consecutive_failures"] == 1 and body["last_error"].startswith("StoreRefused: ")
        assert h.written_events() == 0 and store.read_position(TOPIC, 0)[0] == -1
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()


def test_a_store_table_dropped_under_the_worker_stops_the_batch_and_dead_letters_nothing(store):
    """Before: UNKNOWN_TABLE was taken for bad data, every batch dead-lettered internal_error."""
    store.command(f"DROP TABLE {store.table('partials')}")
    h = Harness(store, stop_after_sleeps=4)
    with pytest.raises(StoreRefused, match="no such table or database .*a worker creates"):
        h.run([message(1, "a"), message(2, "b", "c")])
    assert h.dead == [] and h.sleeps == []


@pytest.mark.parametrize(
    ("user", "password"),
    [("", "wrong-pw-secret"), (READER, READER_PASSWORD), (OUTSIDER, OUTSIDER_PASSWORD)],
    ids=["wrong-password", "no-evalsha", "other-keys"],
)
def test_a_join_store_that_refuses_stops_the_batch_at_once_and_dead_letters_nothing(
    store, password_redis: PasswordRedis, user: str, password: str
):
    """Before: a wrong password was retried forever as an outage; NOPERM (no EVALSHA) ended, after
    three attempts, with the whole batch dead-lettered internal_error; a refused MGET was retried."""
    join = RedisJoinStore(password_redis.url(password, user=user), prefix="ingest-refusals:")
    h = Harness(store, join_store=join, stop_after_sleeps=4)
    with pytest.raises(StoreRefused, match=" refused (the credentials|a command)"):
        h.run([message(1, "a"), message(2, "b", "c")])
    assert h.dead == [] and h.sleeps == []  # nothing dead-lettered, nothing retried
    assert h.written_events() == 0 and store.read_position(TOPIC, 0)[0] == -1
    body, _ = h.health.report(NOW)
    assert body["consecutive_failures"] == 1 and body["last_error"].startswith("StoreRefused: ")
    join.close()


def test_a_join_store_url_at_a_redis_cluster_node_stops_the_batch_and_dead_letters_nothing(
    store, tmp_path
):
    """A node that serves none of the keys' slots. Before: its ERR (a script's key on another node)
    was blamed on the messages: three attempts, then the whole batch dead-lettered internal_error."""
    with redis_cluster_nodes(tmp_path) as cluster:
        join = RedisJoinStore(cluster.url(cluster.empty), prefix="ingest-cluster:")
        h = Harness(store, join_store=join, stop_after_sleeps=4)
        with pytest.raises(StoreRefused, match="MONITOR_REDIS_URL points at a Redis Cluster node"):
            h.run([message(1, "a"), message(2, "b", "c")])
        join.close()
    assert h.dead == [] and h.sleeps == []  # nothing dead-lettered, nothing retried
    assert h.written_events() == 0 and store.read_position(TOPIC, 0)[0] == -1


def test_a_failover_replica_is_retried_as_an_outage_never_dead_lettered(store, tmp_path):
    """READONLY from a replica. Before: not retried; after three attempts the whole batch was
    dead-lettered internal_error."""
    with primary_and_replica(tmp_path) as (_, replica):
        join = RedisJoinStore(f"redis://127.0.0.1:{replica}/0", prefix="ingest-readonly:")
        h = Harness(store, join_store=join, stop_after_sleeps=4)
        with pytest.raises(IngestStopped):
            h.run([message(1, "a"), message(2, "b")])
        join.close()
    assert h.sleeps == [0.5, 1.0, 2.0, 4.0]
    assert h.dead == [] and h.written_events() == 0
    assert "read only replica" in h.health.report(NOW)[0]["last_error"]


def test_health_turns_failing_after_the_threshold():
    h = IngestHealth(failing_after=10)
    assert h.report(0.0) == (
        {
            "status": "ok",
            "first_batch_at": None,
            "last_batch_at": None,
            "last_write_at": None,
            "events_written": 0,
            "consecutive_failures": 0,
            "failing_for_seconds": 0.0,
            "broker_answered_at": None,
            "last_error": None,
        },
        200,
    )
    h.batch_started(99.0)
    h.batch_failed(100.0, "StoreError: down")
    h.batch_started(104.0)
    h.batch_failed(105.0, "StoreError: still down")
    assert (h.report(105.0)[0]["first_batch_at"], h.report(105.0)[0]["last_batch_at"]) == (
        99.0,
        104.0,
    )
    assert h.report(109.0)[0]["status"] == "degraded" and h.report(110.5)[1] == 503
    assert h.report(110.5)[0]["last_error"] == "StoreError: still down"


def test_health_fails_when_the_broker_stops_answering_fetches():
    h = IngestHealth(failing_after=10)
    assert h.report(100.0, broker_answered_at=95.0)[0]["status"] == "ok"
    assert h.report(100.0, broker_answered_at=90.0)[0]["status"] == "ok"  # at the threshold
    body, status = h.report(100.0, broker_answered_at=89.0)
    assert (body["status"], status) == ("failing", 503)
    assert body["last_error"] == "no fetch answer from the broker for 11 s"
    h.batch_failed(100.0, "StoreError: down")  # a batch's own error is the one reported
    assert h.report(100.0, broker_answered_at=89.0)[0]["last_error"] == "StoreError: down"


class CachingHarness(Harness):
    """Positions cached between batches and forgotten after a failure, as the worker does."""

    def __init__(self, store: ClickHouseStore):
        super().__init__(store)
        self.cache: dict = {}

    async def positions_for(self, sources):
        for src in sources - self.cache.keys():
            self.cache[src] = Position(*self.store.read_position(*src))
        return self.cache

    def run(self, raw):
        config = BatchConfig(window_seconds=60, allowed_lateness=600, max_future_skew=300, now=NOW)
        return asyncio.run(
            ingest_batch(
                raw,
                self.steps,
                config_for=lambda: config,
                positions_for=self.positions_for,
                send_dead_letters=self.send,
                blocking=self.blocking,
                sleep=self.sleep,
                stopping=self.stopping,
                health=self.health,
                on_failure=self.cache.clear,
                policy=RetryPolicy(),
            )
        )


def stale_writer_writes_nothing_twice(store: ClickHouseStore, reader: ClickHouseStore) -> None:
    """Worker A holds a position read before worker B wrote the same offsets (a rebalance, or A's own
    earlier write whose answer was lost): A's write is refused, A re-reads and adds only what is new."""
    late = CachingHarness(store)
    asyncio.run(late.positions_for({(TOPIC, 0)}))  # A's cached position: nothing written yet
    Harness(reader).run([message(0, "a", "b"), message(1, "c")])  # B writes offsets 0-1
    result = late.run([message(0, "a", "b"), message(1, "c"), message(2, "d")])
    assert Harness(reader).written_events() == 4.0  # a, b, c once each, and d
    assert result.attempts == 2 and late.cache[(TOPIC, 0)].last_offset == 1
    assert reader.read_position(TOPIC, 0)[0] == 2


def test_a_batch_prepared_on_a_stale_position_is_not_written_twice(store):
    stale_writer_writes_nothing_twice(store, store)


def test_a_remote_batch_prepared_on_a_stale_position_is_not_written_twice(store, chdb_dir):
    server = serve_store(store)  # the owner's /store: one call, check and insert together
    try:
        remote = RemoteStore(store.url, f"http://127.0.0.1:{server.server_port}")
        stale_writer_writes_nothing_twice(remote, store)
    finally:
        server.shutdown()
        server.server_close()


def test_a_new_position_epoch_is_written_once_and_then_guarded(store):
    """After the broker's offsets restart, a batch of the new epoch expects offset -1 in it."""
    src = (TOPIC, 0)
    store.write_batch({src: (5, NOW, [])}, {src: (0, "c/t1")}, {src: (0, -1)})
    with pytest.raises(PositionMoved):  # the old epoch moved on: a stale writer of epoch 0
        store.write_batch({src: (3, NOW, [])}, {src: (0, "c/t1")}, {src: (0, -1)})
    store.write_batch({src: (0, NOW, [])}, {src: (1, "c/t2")}, {src: (1, -1)})
    with pytest.raises(PositionMoved):
        store.write_batch({src: (0, NOW, [])}, {src: (1, "c/t2")}, {src: (1, -1)})
    assert (store.position(*src).epoch, store.position(*src).last_offset) == (1, 0)
