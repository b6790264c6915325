"""One contract suite for the join store, run against memory and a real Redis."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import orjson
import pytest

from monitor.adapters.join_store import (
    JoinStore,
    MemoryJoinStore,
    RedisJoinStore,
    make_join_store,
)
from monitor.errors import StoreError
from monitor.folding.pipeline import BatchConfig, BatchOutput, RawMessage, process_batch
from monitor.services.shadow import ShadowStage

TTL = 100.0


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[JoinStore]:
    if request.param == "memory":
        made: JoinStore = MemoryJoinStore(ttl_seconds=TTL)
    else:
        url = request.getfixturevalue("redis_url")
        made = RedisJoinStore(url, ttl_seconds=TTL, prefix=request.getfixturevalue("redis_prefix"))
    made.setup()
    yield made
    if isinstance(made, RedisJoinStore):
        client = made._client
        keys = list(
            client.scan_iter(match=made.prefix + "*", count=10_000)
        )  # a shared db: big pages
        if keys:
            client.delete(*keys)
    made.close()


def test_feedback_before_inference_joins_when_inference_arrives(store: JoinStore) -> None:
    assert store.add_feedback([("r1", "f1", b"fb1")], now=0.0).matches == []
    assert store.pending() == {"inference": 0, "feedback": 1}
    assert store.add_inferences([("r1", b"inf1"), ("r2", b"inf2")], now=1.0) == [
        ("r1", b"inf1", [b"fb1"])
    ]
    assert store.pending() == {"inference": 1, "feedback": 0}


def test_feedback_after_inference_joins_when_feedback_arrives(store: JoinStore) -> None:
    assert store.add_inferences([("r1", b"inf1")], now=0.0) == []
    assert store.pending() == {"inference": 1, "feedback": 0}
    assert store.add_feedback([("r1", "f1", b"fb1"), ("r9", "f9", b"fb9")], now=1.0).matches == [
        ("r1", b"inf1", b"fb1")
    ]
    assert store.pending() == {"inference": 0, "feedback": 1}


def test_several_feedback_per_request_are_kept_and_sorted_by_feedback_id(store: JoinStore) -> None:
    store.add_feedback([("r1", "b", b"thumbs"), ("r1", "a", b"rating")], now=0.0)
    store.add_feedback([("r1", "a", b"rating again")], now=0.5)  # same id: first payload stays
    assert store.add_inferences([("r1", b"inf")], now=1.0) == [
        ("r1", b"inf", [b"rating", b"thumbs"])
    ]
    assert store.add_feedback([("r1", "c", b"late")], now=2.0).matches == [("r1", b"inf", b"late")]


def test_replaying_batches_returns_the_same_pairs(store: JoinStore) -> None:
    early = [("r1", "f1", b"early")]
    inferences = [("r1", b"inf1"), ("r2", b"inf2")]
    late = [("r1", "f2", b"late"), ("r2", "f3", b"r2 fb")]
    first = (
        store.add_feedback(early, 0.0).matches,
        store.add_inferences(inferences, 1.0),
        store.add_feedback(late, 2.0).matches,
    )
    second = (
        store.add_feedback(early, 3.0).matches,
        store.add_inferences(inferences, 4.0),
        store.add_feedback(late, 5.0).matches,
    )
    assert first == second
    assert first == (
        [],
        [("r1", b"inf1", [b"early"])],
        [("r1", b"inf1", b"late"), ("r2", b"inf2", b"r2 fb")],
    )
    assert store.pending() == {"inference": 0, "feedback": 0}


def test_a_resent_feedback_joins_nothing_and_its_replay_joins_again(store: JoinStore) -> None:
    first, resent = b'{"id":"fb:0:4:0","rating":2}', b'{"id":"fb:0:9:3","rating":2}'
    store.add_inferences([("r1", b'{"id":"inf:0:1:0"}')], now=0.0)
    assert store.add_feedback([("r1", "id=s-1", first)], now=1.0).matches == [
        ("r1", b'{"id":"inf:0:1:0"}', first)
    ]
    assert (
        store.add_feedback([("r1", "id=s-1", resent)], now=2.0).matches == []
    )  # a producer's resend
    assert store.add_feedback(
        [("r1", "id=s-1", first)], now=3.0
    ).matches == [  # a replay of the first
        ("r1", b'{"id":"inf:0:1:0"}', first)
    ]
    # feedback that came before its inference: its resend after the inference joins nothing either
    store.add_feedback([("r2", "id=s-2", first)], now=4.0)
    assert store.add_inferences([("r2", b'{"id":"inf:0:2:0"}')], now=5.0) == [
        ("r2", b'{"id":"inf:0:2:0"}', [first])
    ]
    assert store.add_feedback([("r2", "id=s-2", resent)], now=6.0).matches == []
    assert store.pending() == {"inference": 0, "feedback": 0}


def test_duplicates_inside_one_batch_join_once(store: JoinStore) -> None:
    store.add_inferences([("r1", b"inf")], now=0.0)
    assert store.add_feedback([("r1", "f1", b"x"), ("r1", "f1", b"x")], now=1.0).matches == [
        ("r1", b"inf", b"x")
    ]


def test_expire_counts_only_unmatched_records_by_kind(store: JoinStore) -> None:
    store.add_inferences([("matched", b"i"), ("lonely1", b"i"), ("lonely2", b"i")], now=0.0)
    store.add_feedback([("matched", "f", b"f"), ("orphan", "f", b"f")], now=10.0)
    assert store.expire(now=TTL) == {"inference": 0, "feedback": 0}  # nothing older than the TTL
    assert store.expire(now=TTL + 5.0) == {"inference": 2, "feedback": 0}
    assert store.pending() == {"inference": 0, "feedback": 1}
    assert store.expire(now=TTL + 20.0) == {"inference": 0, "feedback": 1}
    assert store.pending() == {"inference": 0, "feedback": 0}
    assert store.expire(now=TTL + 30.0) == {"inference": 0, "feedback": 0}
    # the expired inference is gone: its feedback now waits on its own
    assert store.add_feedback([("lonely1", "f", b"f")], now=TTL + 31.0).matches == []


def test_feedback_matched_later_is_not_counted_as_expired(store: JoinStore) -> None:
    store.add_feedback([("r1", "f1", b"f")], now=0.0)
    store.add_inferences([("r1", b"i")], now=50.0)
    assert store.expire(now=TTL + 60.0) == {"inference": 0, "feedback": 0}


def test_two_redis_workers_join_each_pair_exactly_once(redis_url: str, redis_prefix: str) -> None:
    store, other = (RedisJoinStore(redis_url, TTL, redis_prefix) for _ in range(2))
    ids = [f"r{i}" for i in range(2000)]
    results: dict[str, list] = {}

    def inferences() -> None:
        results["inf"] = [
            m
            for i in range(0, len(ids), 50)
            for m in store.add_inferences([(r, b"i") for r in ids[i : i + 50]], 0.0)
        ]

    def feedback() -> None:
        results["fb"] = [
            m
            for i in range(0, len(ids), 50)
            for m in other.add_feedback([(r, "f", b"f") for r in ids[i : i + 50]], 0.0).matches
        ]

    threads = [threading.Thread(target=inferences), threading.Thread(target=feedback)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.pending() == {"inference": 0, "feedback": 0}
    store._client.delete(*store._client.scan_iter(match=redis_prefix + "*", count=10_000))
    store.close()
    other.close()
    joined = [m[0] for m in results["inf"]] + [m[0] for m in results["fb"]]
    assert sorted(joined) == sorted(ids)


def test_unreachable_redis_raises_store_error_with_masked_url() -> None:
    store = RedisJoinStore("redis://user:hunter2@127.0.0.1:1/0")
    with pytest.raises(StoreError, match=r"redis://user:\*\*\*@127\.0\.0\.1:1/0") as info:
        store.setup()
    assert "hunter2" not in str(info.value)
    with pytest.raises(StoreError):
        store.add_inferences([("r", b"i")], now=0.0)


def test_make_join_store_picks_redis_when_a_url_is_given() -> None:
    assert isinstance(make_join_store(None, 10.0), MemoryJoinStore)
    made = make_join_store("redis://127.0.0.1:1/0", 10.0, prefix="p:")
    assert isinstance(made, RedisJoinStore) and made.prefix == "p:" and made.ttl_seconds == 10.0


# Shadow pairs: production and shadow answers wait for each other in the same store, same rules.


def _shadow_batch(events: list[dict], offset: int = 0) -> BatchOutput:
    raw = [
        RawMessage("inf", 0, offset + i, orjson.dumps(e), "inference") for i, e in enumerate(events)
    ]
    return process_batch(raw, {}, BatchConfig(60, 3600.0, 300.0, now=1_795_000_100.0))


def _answer(rid: str, version: str, text: str, **fields: object) -> dict:
    return {
        "request_id": rid,
        "timestamp": 1_795_000_000.0,
        "model": "m",
        "model_version": version,
        "output_text": text,
        "latency_ms": 100.0,
        **fields,
    }


def _pair_totals(out: BatchOutput) -> dict[tuple[str, str, str], float]:
    return {
        (p.model_version, p.name, p.bucket): p.total
        for s in out.sources.values()
        for p in s.partials
        if p.name.startswith("shadow:") and p.name != "shadow:events"
    }


def test_shadow_pairs_are_returned_once_to_the_later_side_and_again_on_replay(
    store: JoinStore,
) -> None:
    stage = ShadowStage(store, window_seconds=60)
    production = [_answer("r1", "v2", "Refund sent."), _answer("r2", "v2", "Please wait.")]
    shadow = [
        _answer("r1", "v3", "refund  sent.", deployment="shadow", latency_ms=150.0),
        _answer("r2", "v3", "No.", deployment="shadow", error="timeout"),
        _answer("r2", "v4", "Please wait.", deployment="shadow"),
    ]  # a second candidate pairs on its own
    first, later = _shadow_batch(shadow[:1]), _shadow_batch(production + shadow[1:], offset=10)
    assert stage.process(first, now=0.0) == 0  # the shadow came first: it waits
    assert stage.process(later, now=1.0) == 3
    totals = _pair_totals(later)
    assert totals[("v2", "shadow:pairs", "v3")] == 2 and totals[("v2", "shadow:pairs", "v4")] == 1
    assert totals[("v2", "shadow:agreement:y", "v3")] == 1  # the erroring pair has no agreement
    assert (
        totals[("v2", "shadow:error_rate:y", "v3")] == 1
        and totals[("v2", "shadow:latency_ms:y", "v3")] == 50
    )
    replayed = _shadow_batch(production + shadow[1:], offset=10)
    assert stage.process(replayed, now=2.0) == 3 and _pair_totals(replayed) == totals
    assert (
        stage.process(_shadow_batch(shadow[:1]), now=3.0) == 0
    )  # replaying the early side pairs nothing
    assert store.pending() == {"inference": 0, "feedback": 0}


def test_unpaired_shadow_and_production_answers_expire_into_counters(store: JoinStore) -> None:
    stage = ShadowStage(store, window_seconds=60)
    stage.process(
        _shadow_batch(
            [
                _answer("p", "v2", "a"),
                _answer("s", "v3", "b", deployment="shadow"),
                _answer("both", "v2", "c"),
                _answer("both", "v3", "c", deployment="shadow"),
            ]
        ),
        now=0.0,
    )
    assert stage.expire(now=TTL + 1.0) == {"production": 1, "shadow": 1}


def test_the_memory_store_evicts_its_oldest_records_at_the_cap_and_counts_them() -> None:
    store = MemoryJoinStore(ttl_seconds=TTL, max_records=3)
    store.add_inferences([("r1", b"i1"), ("r2", b"i2")], now=0.0)
    store.add_feedback([("r3", "f3", b"fb3")], now=1.0)
    assert store.take_evicted() == 0
    store.add_inferences([("r4", b"i4"), ("r5", b"i5")], now=2.0)  # 5 records: r1 and r2 go
    assert store.take_evicted() == 2 and store.take_evicted() == 0
    assert store.pending() == {"inference": 2, "feedback": 1}
    assert (
        store.add_feedback([("r1", "f1", b"late")], now=3.0).matches == []
    )  # r1's inference was evicted
    assert store.take_evicted() == 1  # ... and now r3's feedback, the oldest record
    assert store.add_inferences([("r3", b"i3")], now=4.0) == []
    assert store.take_evicted() == 1  # r4
    assert store.expire(now=1000.0) == {"inference": 2, "feedback": 1}  # r5, r3 and r1's feedback


def test_a_second_inference_event_with_the_same_request_id_joins_nothing(store: JoinStore) -> None:
    # a producer that retried: the same request id at another offset; only a replay of the stored
    # event gets its pairs again, so the outcome is counted once
    first, retry = b'{"id":"inf:0:1:0","t":1.0}', b'{"id":"inf:0:9:0","t":1.0}'
    store.add_feedback([("r1", "f1", b"fb")], now=0.0)
    assert store.add_inferences([("r1", first)], now=1.0) == [("r1", first, [b"fb"])]
    assert store.add_inferences([("r1", retry)], now=2.0) == []
    assert store.add_inferences([("r1", first)], now=3.0) == [("r1", first, [b"fb"])]
    assert store.add_feedback([("r1", "f2", b"later")], now=4.0).matches == [
        ("r1", first, b"later")
    ]


def test_stored_inferences_reads_the_held_payloads_and_changes_nothing(store: JoinStore) -> None:
    assert store.stored_inferences([]) == {}
    assert store.stored_inferences(["r1", "r2"]) == {}  # nothing held
    store.add_inferences([("r1", b'{"id":"inf:0:1:0","m":"m"}'), ("r:2", b"inf:2:x")], now=0.0)
    store.add_feedback([("r3", "f3", b"fb3")], now=0.0)  # feedback alone is no inference
    held = store.stored_inferences(["r1", "r3", "r:2", "r1", "r9"])
    assert held == {"r1": b'{"id":"inf:0:1:0","m":"m"}', "r:2": b"inf:2:x"}
    assert store.pending() == {"inference": 2, "feedback": 1}  # reading stored nothing
    assert store.add_feedback([("r1", "f1", b"fb1")], now=1.0).matches == [
        ("r1", b'{"id":"inf:0:1:0","m":"m"}', b"fb1")
    ]
    store.expire(now=TTL + 10)
    assert store.stored_inferences(["r1", "r:2"]) == {}  # expired: a later event counts again


def test_marks_are_shared_and_last_a_ttl_after_the_latest(store: JoinStore) -> None:
    store.mark(["m1"], now=0.0)
    assert store.marked(["m1", "m2"], now=50.0) == {"m1"}
    store.mark(["m1", "m2"], now=60.0)  # marked again: active a TTL after this
    assert store.marked(["m1", "m2", "m3"], now=TTL + 10.0) == {"m1", "m2"}
    assert store.marked(["m1", "m2"], now=60.0 + TTL + 1.0) == set()
    assert store.marked([], now=0.0) == set()


def test_production_answers_wait_only_for_models_with_shadow_traffic(store: JoinStore) -> None:
    """A model without shadow answers stores none of its production answers (nothing to pair,
    nothing to expire); from its first shadow answer on, both sides wait for each other. A
    production answer processed before that first shadow answer is not paired."""
    stage = ShadowStage(store, window_seconds=60)
    early = [_answer(f"e{i}", "v2", "Refund sent.") for i in range(5)]
    assert stage.process(_shadow_batch(early), now=0.0) == 0
    assert store.pending() == {"inference": 0, "feedback": 0}  # not stored at all
    shadow = [_answer("e0", "v3", "Refund sent.", deployment="shadow"),  # its production came early
              _answer("r1", "v3", "Refund sent.", deployment="shadow")]  # fmt: skip
    assert stage.process(_shadow_batch(shadow, offset=10), now=1.0) == 0
    production = [_answer("r1", "v2", "Refund sent."), _answer("r2", "v2", "Wait.")]
    assert stage.process(_shadow_batch(production, offset=20), now=2.0) == 1  # r1 pairs
    later = [_answer("r2", "v3", "Wait.", deployment="shadow")]
    assert stage.process(_shadow_batch(later, offset=30), now=3.0) == 1  # r2 waited for it
    assert stage.expire(now=TTL + 10.0) == {"production": 0, "shadow": 1}  # e0's shadow alone
    stage.process(_shadow_batch([_answer("r3", "v2", "a")], offset=40), now=3.0 + TTL + 1.0)
    assert store.pending() == {"inference": 0, "feedback": 0}  # no shadow for a TTL: unmarked


def test_memory_and_redis_stores_join_the_same_pairs_for_any_sequence(redis_url: str) -> None:
    """The in-process store promises the Redis store's behaviour: random batches of inferences (a
    second event under a request id included) and feedback (a second event under a feedback id
    included: a resend; a third feedback id past the bound of two), with repeats, give the same
    matches and refusals and hold the same inferences."""
    import uuid

    from hypothesis import given, settings
    from hypothesis import strategies as st
    from tests_support import delete_redis_keys

    rids = st.sampled_from(["a", "b", "c", "d"])
    inference = st.tuples(rids, st.sampled_from([b'{"id":"t:0:1:0"}', b'{"id":"t:0:2:0"}']))
    feedback_payloads = [b'{"id":"fb:0:1:0"}', b'{"id":"fb:0:2:0","rating":2}', b"x", b"y"]
    fids = st.sampled_from(["f1", "f2", "f3"])
    feedback = st.tuples(rids, fids, st.sampled_from(feedback_payloads))
    batches = st.lists(
        st.one_of(
            st.tuples(st.just("inference"), st.lists(inference, max_size=5)),
            st.tuples(st.just("feedback"), st.lists(feedback, max_size=5)),
        ),
        max_size=8,
    )

    @settings(max_examples=120, deadline=None)
    @given(batches)
    def check(sequence) -> None:
        prefix = f"test:{uuid.uuid4().hex[:10]}:"
        memory = MemoryJoinStore(TTL, max_feedback=2)
        redis = RedisJoinStore(redis_url, TTL, prefix=prefix, max_feedback=2)
        try:
            for kind, items in sequence:
                if kind == "inference":
                    got = [store.add_inferences(items, 0.0) for store in (memory, redis)]
                else:
                    added = [store.add_feedback(items, 0.0) for store in (memory, redis)]
                    assert added[0].refused == added[1].refused, items
                    got = [a.matches for a in added]
                assert sorted(map(repr, got[0])) == sorted(map(repr, got[1])), (kind, items)
                ids = ["a", "b", "c", "d"]
                assert memory.stored_inferences(ids) == redis.stored_inferences(ids)
            assert memory.pending() == redis.pending()
        finally:
            redis.close()
            delete_redis_keys(redis_url, prefix + "*")

    check()


def test_a_batch_of_new_inferences_stored_in_bulk_is_stored_as_event_by_event() -> None:
    """The bulk path for batches of new request ids keeps exactly the per-event path's records,
    matches, age order, expiry and evictions, whatever the sequence: repeats, feedback first, a
    clock that goes back, a cap that evicts."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    class EventByEvent(MemoryJoinStore):
        def _add_new_in_bulk(self, items, now):
            return False

    rids = st.sampled_from([f"r{i}" for i in range(8)])
    payload = st.sampled_from([b'{"id":"t:0:1:0"}', b'{"id":"t:0:2:0"}'])
    now = st.sampled_from([0.0, 1.0, 2.0, 50.0, 120.0, 300.0])
    step = st.one_of(
        st.tuples(st.just("inference"), st.lists(st.tuples(rids, payload), max_size=5), now),
        st.tuples(
            st.just("feedback"),
            st.lists(st.tuples(rids, st.sampled_from(["f1", "f2"]), st.just(b"x")), max_size=3),
            now,
        ),
        st.tuples(st.just("expire"), st.just([]), now),
    )

    @settings(max_examples=300, deadline=None)
    @given(st.lists(step, max_size=12), st.sampled_from([3, 6, 1000]))
    def check(sequence, cap) -> None:
        bulk, single = MemoryJoinStore(TTL, max_records=cap), EventByEvent(TTL, max_records=cap)
        for kind, items, at in sequence:
            if kind == "expire":
                assert bulk.expire(at) == single.expire(at)
                continue
            if kind == "inference":
                got = bulk.add_inferences(items, at), single.add_inferences(items, at)
            else:
                got = bulk.add_feedback(items, at), single.add_feedback(items, at)
            assert got[0] == got[1], (kind, items, at)
            assert bulk.pending() == single.pending()
            assert bulk.take_evicted() == single.take_evicted()
            assert bulk._inferences == single._inferences
            assert sorted(bulk._by_age) == sorted(single._by_age)
            assert bulk._by_age[0:1] == single._by_age[0:1]  # the same oldest first: a heap

    check()
    store = MemoryJoinStore(TTL)  # and the bulk path is the one a batch of new ids takes
    assert store._add_new_in_bulk([("a", b"1"), ("b", b"2")], 1.0)
    assert not store._add_new_in_bulk([("a", b"3")], 1.0)  # stored already
    assert not store._add_new_in_bulk([("c", b"3")], 0.5)  # older than a held record
    assert not store._add_new_in_bulk([("d", b"3"), ("d", b"4")], 1.0)  # twice in the batch
