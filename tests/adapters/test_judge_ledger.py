"""The judge's daily token count in real Redis: shared by runners, kept across restarts, one key a
UTC day with a TTL, and a named error (the masked URL, no password) when Redis is unreachable."""

from __future__ import annotations

import pytest
import redis

from monitor.adapters.judge_ledger import RedisTokenLedger
from monitor.errors import StoreError
from monitor.judge.budget import DAY, DailyBudget


def test_two_runners_and_a_restart_share_one_day_count(redis_url: str, redis_prefix: str) -> None:
    first = DailyBudget(1000, RedisTokenLedger(redis_url, redis_prefix))
    second = DailyBudget(1000, RedisTokenLedger(redis_url, redis_prefix))
    now = 20_000 * DAY + 3600.0
    assert first.allows(600, now)
    first.spend(600, now)
    assert second.allows(400, now) and not second.allows(401, now)  # the first runner's 600
    second.spend(300, now)
    restarted = DailyBudget(1000, RedisTokenLedger(redis_url, redis_prefix))
    assert not restarted.allows(101, now) and restarted.spent == 900
    assert restarted.allows(1000, now + DAY) and restarted.spent == 0  # a new UTC day
    client = redis.Redis.from_url(redis_url)
    key = f"{redis_prefix}20000"
    assert int(client.get(key)) == 900 and 0 < client.ttl(key) <= 2 * 86400


def test_an_unreachable_redis_is_a_store_error_without_the_password() -> None:
    ledger = RedisTokenLedger("redis://:s3cret@127.0.0.1:1/0", "p:")
    with pytest.raises(StoreError) as caught:
        DailyBudget(1000, ledger).allows(10, 0.0)
    assert "judge token budget in Redis at" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_a_value_that_is_not_a_count_is_a_store_error(redis_url: str, redis_prefix: str) -> None:
    redis.Redis.from_url(redis_url).set(f"{redis_prefix}7", "lots")
    with pytest.raises(StoreError, match=r"holds b'lots', not a count"):
        RedisTokenLedger(redis_url, redis_prefix).spent(7)
