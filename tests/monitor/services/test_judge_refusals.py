"""A Redis that refuses the judge runner's credentials or commands stops the runner at once,
wherever it is met (buffer, token ledger, statistics journal): no retry fixes it. A Redis that does
not answer is still waited for, and the runner goes on once it answers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from redis_support import PASSWORD, READER, READER_PASSWORD, PasswordRedis, start_redis

from monitor.adapters.judge_buffer import RedisRequestBuffer
from monitor.adapters.judge_journal import RedisStatsJournal
from monitor.adapters.judge_ledger import RedisTokenLedger
from monitor.adapters.local_broker import free_port
from monitor.errors import StoreRefused
from tests.judge_runner_support import run, value
from tests.judge_support import ScriptedJudge, answer

WRONG = "wrong-pw-secret"


def buffer(url: str) -> RedisRequestBuffer:
    return RedisRequestBuffer(url, "refusals:buffer:", size=100, ttl_seconds=3600.0)


def test_a_buffer_whose_password_is_refused_stops_the_runner_without_retrying(
    password_redis: PasswordRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: the runner retried the buffer read forever (a warning every 10 s at most), as if
    Redis were down, and judged nothing; now the refusal is raised at the first attempt."""
    judge = ScriptedJudge("quality")
    registry = CollectorRegistry()
    started = time.monotonic()
    with caplog.at_level("WARNING", logger="monitor.judge"), pytest.raises(StoreRefused) as refused:
        asyncio.run(
            asyncio.wait_for(
                run(
                    judge,
                    [answer("p1", "GOOD")],
                    buffer=buffer(password_redis.url(WRONG)),
                    registry=registry,
                ),
                5.0,
            )
        )
    assert time.monotonic() - started < 2.0
    assert "judge buffer in Redis at redis://:***@" in str(refused.value)
    assert "read failed: Redis refused the credentials" in str(refused.value)
    assert judge.calls == [] and caplog.records == []
    assert value(registry, "monitor_judge_buffer_errors_total") == 0


def test_a_buffer_whose_redis_does_not_answer_is_retried_until_it_does(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listens at the buffer's Redis: the runner waits (warning, counting) and judges the
    message once a redis-server is started there (during the runner's first back-off)."""
    port = free_port()
    started: list = []

    async def start_redis_while_waiting(seconds: float) -> None:
        if not started:
            started.append(start_redis(tmp_path, port, "--requirepass", PASSWORD))
        await asyncio.sleep(seconds)

    judge = ScriptedJudge("quality")
    registry = CollectorRegistry()
    url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    try:
        with caplog.at_level("WARNING", logger="monitor.judge"):
            _, events, _ = asyncio.run(
                run(
                    judge,
                    [answer("t1", "GOOD")],
                    buffer=buffer(url),
                    registry=registry,
                    sleep=start_redis_while_waiting,
                )
            )
        assert len(events) == 1 and len(judge.calls) == 1
        assert value(registry, "monitor_judge_buffer_errors_total") == 1
        assert (
            caplog.records[0]
            .getMessage()
            .startswith(
                "judge buffer read failed, again in 0.5 s: judge buffer in Redis at redis://:***@"
            )
        )
    finally:
        for process in started:
            process.kill()
            process.wait(10)


def test_a_token_ledger_whose_password_is_refused_stops_the_runner_rather_than_skip(
    password_redis: PasswordRedis,
) -> None:
    """Before: each call was skipped and counted as budget_unavailable, the runner judging nothing
    while it looked alive."""
    judge = ScriptedJudge("quality")
    registry = CollectorRegistry()
    ledger = RedisTokenLedger(password_redis.url(WRONG), "refusals:tokens:")
    with pytest.raises(StoreRefused, match="judge token budget in Redis at .* refused the cred"):
        asyncio.run(run(judge, [answer("l1", "GOOD")], ledger=ledger, registry=registry))
    assert judge.calls == []
    assert value(registry, "monitor_judge_skipped_total", {"reason": "budget_unavailable"}) == 0


def test_a_journal_write_the_acl_refuses_stops_the_runner_rather_than_warn(
    password_redis: PasswordRedis,
) -> None:
    """The journal's user may read, not write: the statistics are restored, then the first
    verdict's write is refused (NOPERM) and the runner stops (before: a warning per observation)."""
    reader = password_redis.url(READER_PASSWORD, user=READER)
    journal = RedisStatsJournal(reader, "refusals:stats:")
    records = [answer("j1", "GOOD"), answer("j1", "GOOD shadow", shadow=True)]
    with pytest.raises(StoreRefused, match=r"judge statistics .* write failed: .* \(NOPERM "):
        asyncio.run(run(ScriptedJudge("quality"), records, journal=journal))
