"""The feedback one request holds in the join store is bounded (``max_feedback``): one contract
suite for the memory and the Redis store. Past the bound a new feedback id is refused (neither
stored nor joined), one stored before never is (a replay returns the same), and the count goes
with the records when they expire."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from monitor.adapters.join_store import JoinStore, MemoryJoinStore, RedisJoinStore

TTL = 100.0
BOUND = 3


def _feedback(rid: str, *numbers: int) -> list[tuple[str, str, bytes]]:
    return [(rid, f"f{n}", f'{{"id":"fb:0:{n}:0"}}'.encode()) for n in numbers]


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[JoinStore]:
    if request.param == "memory":
        made: JoinStore = MemoryJoinStore(TTL, max_feedback=BOUND)
    else:
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
        made = RedisJoinStore(url, TTL, prefix=prefix, max_feedback=BOUND)
    made.setup()
    yield made
    made.close()


def test_feedback_past_the_bound_is_refused_neither_stored_nor_joined(store: JoinStore) -> None:
    store.add_inferences([("r1", b"inf")], now=0.0)
    added = store.add_feedback(_feedback("r1", 1, 2, 3, 4, 5), now=1.0)
    assert [fb for _, _, fb in added.matches] == [fb for *_, fb in _feedback("r1", 1, 2, 3)]
    assert added.refused == [("r1", "f4"), ("r1", "f5")]
    later = store.add_feedback(_feedback("r1", 6) + _feedback("r2", 1), now=2.0)
    assert later.matches == [] and later.refused == [("r1", "f6")]  # r2's is stored: its own count
    assert store.pending() == {"inference": 0, "feedback": 1}  # r2's feedback, none of r1's refused
    assert store.expire(now=TTL + 10.0) == {"inference": 0, "feedback": 1}


def test_an_inference_after_its_feedback_gets_only_the_bound(store: JoinStore) -> None:
    """Before: a request with 1,000 feedback events joined 1,000 times when its inference came."""
    first = store.add_feedback(_feedback("r1", *range(1, 8)), now=0.0)
    assert first.matches == [] and first.refused == [("r1", f"f{n}") for n in range(4, 8)]
    [(_, _, feedback)] = store.add_inferences([("r1", b"inf")], now=1.0)
    assert len(feedback) == BOUND and store.pending() == {"inference": 0, "feedback": 0}


def test_a_repeat_of_a_refused_feedback_id_in_its_batch_is_refused_once(store: JoinStore) -> None:
    store.add_feedback(_feedback("r1", 1, 2, 3), now=0.0)
    added = store.add_feedback(_feedback("r1", 4, 4), now=1.0)
    assert added.matches == [] and added.refused == [("r1", "f4")]


def test_a_replay_gives_the_same_pairs_and_refusals(store: JoinStore) -> None:
    """Stored feedback is never refused: the same events again (a worker re-reading its batch)
    join again as the first time, and the events refused then are refused again; a resend of a
    stored feedback id (another event) is not refused either: it joins nothing, as always."""
    store.add_inferences([("r1", b"inf")], now=0.0)
    batch = _feedback("r1", 1, 2, 3, 4)
    first = store.add_feedback(batch, now=1.0)
    again = store.add_feedback(batch, now=2.0)
    assert (again.matches, again.refused) == (first.matches, first.refused)
    assert len(first.matches) == BOUND and first.refused == [("r1", "f4")]
    resend = store.add_feedback([("r1", "f2", b'{"id":"fb:0:99:0"}')], now=3.0)
    assert resend.matches == [] and resend.refused == []


def test_the_count_expires_with_the_records(store: JoinStore) -> None:
    store.add_feedback(_feedback("r1", 1), now=0.0)
    store.add_feedback(_feedback("r1", 2, 3), now=50.0)
    assert store.add_feedback(_feedback("r1", 4), now=60.0).refused == [("r1", "f4")]
    store.expire(now=TTL + 10.0)  # f1 is gone: room for one more
    added = store.add_feedback(_feedback("r1", 4, 5), now=TTL + 11.0)
    assert added.refused == [("r1", "f5")]
    store.expire(now=TTL + 70.0)  # f2, f3 gone too
    assert store.add_feedback(_feedback("r1", 5, 6), now=TTL + 71.0).refused == []


@pytest.mark.parametrize("bound", [0, -1])
def test_a_bound_below_one_is_refused(bound: int, redis_url: str) -> None:
    with pytest.raises(ValueError, match=f"max_feedback: {bound} must be at least 1"):
        MemoryJoinStore(TTL, max_feedback=bound)
    with pytest.raises(ValueError, match=f"max_feedback: {bound} must be at least 1"):
        RedisJoinStore(redis_url, TTL, max_feedback=bound)


def test_redis_workers_sharing_the_store_agree_on_the_bound(
    redis_url: str, redis_prefix: str
) -> None:
    """Two workers add feedback of one request at once, 40 each in batches of 5: the script counts
    in Redis, so exactly the bound is stored, every other event is refused by one of them, and
    each stored one joins exactly once."""
    stores = [RedisJoinStore(redis_url, TTL, redis_prefix, max_feedback=10) for _ in range(2)]
    stores[0].add_inferences([("r1", b"inf")], now=0.0)
    results: list[list] = [[], []]

    def add(k: int) -> None:
        for start in range(0, 40, 5):
            numbers = range(100 * k + start, 100 * k + start + 5)
            added = stores[k].add_feedback(_feedback("r1", *numbers), now=1.0)
            results[k].append(added)

    threads = [threading.Thread(target=add, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    matches = [m for done in results for a in done for m in a.matches]
    refused = [r for done in results for a in done for r in a.refused]
    joined = [int(fb.split(b":")[3]) for *_, fb in matches]  # {"id":"fb:0:<n>:0"}
    not_joined = [int(fid[1:]) for _, fid in refused]
    assert len(joined) == 10 and len(not_joined) == 70
    assert sorted(joined + not_joined) == [*range(40), *range(100, 140)]  # each event once
    client = stores[0]._client
    assert client.hlen(redis_prefix + "f:r1") == 10
    for store in stores:
        store.close()


def test_redis_forgets_the_count_with_the_records_it_expires_itself(
    redis_url: str, redis_prefix: str
) -> None:
    """The count is the request's hash of feedback, whose Redis TTL is the records': once Redis
    drops it (no sweep ran), the request takes feedback again."""
    store = RedisJoinStore(redis_url, 0.3, redis_prefix, max_feedback=2)
    store.add_feedback(_feedback("r1", 1, 2), now=0.0)
    assert store.add_feedback(_feedback("r1", 3), now=0.1).refused == [("r1", "f3")]
    assert 0 < store._client.pttl(redis_prefix + "f:r1") <= 300
    time.sleep(0.5)
    assert store.add_feedback(_feedback("r1", 3), now=0.2).refused == []
    store.close()
