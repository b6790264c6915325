"""Feedback past a request's bound in the join store, through the ingest boundary on a real
embedded store: dead-lettered ``too_many_feedback`` with its own original, counted nowhere (not in
``feedback_events``, not in any outcome, not in its partition's watermark), the rest of the batch
written; the batch prepared again
(a worker re-reading it) refuses the same events and joins the same pairs."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from tests_support import inference

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.join_store import JoinStore, MemoryJoinStore, RedisJoinStore
from monitor.contract.reasons import TOO_MANY_FEEDBACK
from monitor.folding.pipeline import BatchConfig, Position, RawMessage
from monitor.services.ingest import BatchIngest, IngestHealth, ingest_batch
from monitor.services.outcomes import OutcomeStage

NOW = 1_795_000_000.0
BOUND = 3
CONFIG = BatchConfig(window_seconds=60, allowed_lateness=600, max_future_skew=300, now=NOW)


def _thumbs_down(request_id: str, **fields) -> dict:
    return {"request_id": request_id, "timestamp": NOW - 5, "thumbs": "down", **fields}


# r1 gets six feedback events (two resends of one feedback id among them), r2 one
FEEDBACK = [
    [_thumbs_down("r1"), _thumbs_down("r1"), _thumbs_down("r1", feedback_id="s-1")],
    [_thumbs_down("r1", feedback_id="s-1"), _thumbs_down("r1"), _thumbs_down("r2")],
    [_thumbs_down("r1", timestamp=NOW + 200)],  # refused: ahead of the rest, it moves no watermark
]
RAW = [
    RawMessage("inf", 0, 0, orjson.dumps([inference("r1", NOW - 10)]), "inference"),
    *(RawMessage("fb", 0, n, orjson.dumps(batch), "feedback") for n, batch in enumerate(FEEDBACK)),
]


@pytest.fixture(params=["memory", "redis"])
def join_store(request: pytest.FixtureRequest) -> JoinStore:
    if request.param == "memory":
        return MemoryJoinStore(max_feedback=BOUND)
    url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
    return RedisJoinStore(url, prefix=prefix, max_feedback=BOUND)


@pytest.fixture()
def store(chdb_dir) -> ClickHouseStore:
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    return store


def _sums(store: ClickHouseStore) -> dict[str, tuple[float, float]]:
    rows = store.query(
        f"SELECT name, sum(count), sum(total) FROM {store.table('partials')} "
        "WHERE bucket = '' GROUP BY name"
    ).rows
    return {name: (count, total) for name, count, total in rows}


def test_feedback_past_the_bound_is_dead_lettered_and_counted_nowhere(
    store: ClickHouseStore, join_store: JoinStore
) -> None:
    """Before: r1's six feedback events counted six unsatisfied answers for one request."""
    steps = BatchIngest(store, OutcomeStage(join_store, window_seconds=60))
    dead: list = []

    async def send(rejections, now):
        dead.extend(rejections)

    async def positions_for(sources):
        return {src: Position(*store.read_position(*src)) for src in sources}

    async def blocking(fn, *args):
        return fn(*args)

    async def sleep(seconds):
        raise AssertionError("nothing to retry")

    result = asyncio.run(
        ingest_batch(
            RAW,
            steps,
            config_for=lambda: CONFIG,
            positions_for=positions_for,
            send_dead_letters=send,
            blocking=blocking,
            sleep=sleep,
            stopping=lambda: False,
            health=IngestHealth(),
        )
    )
    # r1 holds the first three: two without an id, then s-1; its resend joins nothing, as always
    refused = [(m.offset, r.index) for m, r in dead]
    assert refused == [(1, 1), (2, 0)]
    for message, rejection in dead:
        assert (rejection.reason, rejection.field) == (TOO_MANY_FEEDBACK, "request_id")
        assert rejection.message == (
            "request_id: 'r1' holds 3 feedback events already, the most one request keeps "
            "(MONITOR_MAX_FEEDBACK_PER_REQUEST); this one is not counted"
        )
        assert orjson.loads(rejection.original) == FEEDBACK[message.offset][rejection.index]
    sums = _sums(store)
    assert sums["feedback_events"] == (5.0, 5.0)  # 7 received, 2 refused (the resend counts here)
    assert sums["outcome:satisfaction"] == (BOUND, 0.0)  # three observations, none satisfied
    assert result.out.events["feedback"] == 5
    # the offsets of the dead letters are covered, their times are not
    assert store.read_position("fb", 0) == (2, NOW - 5)


def test_the_batch_prepared_again_refuses_and_joins_the_same(
    store: ClickHouseStore, join_store: JoinStore
) -> None:
    """A worker that re-reads a batch it did not write (a crash, an outage) finds r1's first
    feedback stored: those join again, the others are refused again."""
    steps = BatchIngest(store, OutcomeStage(join_store, window_seconds=60))
    first, again = (steps.prepare(RAW, {}, CONFIG, {}) for _ in range(2))
    for out, outcomes in (first, again):
        assert [(m.offset, r.index, r.reason) for m, r in out.rejections] == [
            (1, 1, TOO_MANY_FEEDBACK),
            (2, 0, TOO_MANY_FEEDBACK),
        ]
        assert len(outcomes.outcomes) == BOUND
    assert first[0].sources[("fb", 0)].partials == again[0].sources[("fb", 0)].partials
    assert first[0].sources[("fb", 0)].event_ids == again[0].sources[("fb", 0)].event_ids
