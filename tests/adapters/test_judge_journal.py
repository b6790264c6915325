"""The judge's statistics journal in a real Redis: observations read back in order, trimmed to
the runner's cap, and values that are not ours left out rather than read as verdicts."""

from __future__ import annotations

import redis

from monitor.adapters.judge_journal import KEEP_SECONDS, RedisStatsJournal
from monitor.judge.pairwise import PairVerdict

KEY = ("bot", "v1", "v2")


def test_observations_read_back_in_order_and_trimmed_to_the_cap(
    redis_url: str, redis_prefix: str
) -> None:
    journal = RedisStatsJournal(redis_url, redis_prefix, max_items=3)
    for i in range(5):
        journal.add_pair(KEY, PairVerdict("shadow" if i % 2 else "tie", i == 4), 10.0 * i, 1.5)
        journal.add_agreement("judge-1", "good", "bad" if i == 4 else "good")
    pairs, agreement = RedisStatsJournal(redis_url, redis_prefix).load()
    assert pairs == {
        KEY: [
            (PairVerdict("tie", False), 20.0, 1.5),
            (PairVerdict("shadow", False), 30.0, 1.5),
            (PairVerdict("tie", True), 40.0, 1.5),
        ]
    }
    assert agreement == {"judge-1": [("good", "good"), ("good", "good"), ("good", "bad")]}
    ttl = redis.Redis.from_url(redis_url).ttl(f"{redis_prefix}agreement:judge-1")
    assert 0 < ttl <= KEEP_SECONDS


def test_values_that_are_not_observations_are_left_out(redis_url: str, redis_prefix: str) -> None:
    journal = RedisStatsJournal(redis_url, redis_prefix)
    journal.add_pair(KEY, PairVerdict("production", False), -5.0, 2.0)
    client = redis.Redis.from_url(redis_url)
    member = '["bot","v1","v2"]'
    for junk in (b"not json", b'["winner?", false, 1, 1]', b'["tie", "no", 1, 1]',
                 b'["tie", false, NaN, 1]', b'["tie", false, 1, -2]', b'[1, 2, 3]'):  # fmt: skip
        client.rpush(f"{redis_prefix}pair:{member}", junk)
    client.sadd(f"{redis_prefix}pairs", "not a key", '["only", "two"]')
    client.sadd(f"{redis_prefix}agreement", "judge-2")
    client.rpush(f"{redis_prefix}agreement:judge-2", b'["good", 7]', b"{}", b'["bad", "bad"]')
    pairs, agreement = journal.load()
    assert pairs == {KEY: [(PairVerdict("production", False), -5.0, 2.0)]}
    assert agreement == {"judge-2": [("bad", "bad")]}
