"""The judge runner driven as ``monitor judge`` drives it, against a :class:`ScriptedJudge`: one
message's records judged, buffered and journaled, with the stores and metrics the test gives."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry

from monitor.adapters.judge_client import ChatClient
from monitor.adapters.judge_metrics import JudgeMetrics
from monitor.judge import DailyBudget, RateLimit, default_rubric
from monitor.judge.budget import TokenLedger
from monitor.judge.buffer import RequestBuffer
from monitor.judge.stats import StatsJournal
from monitor.services.judge import JudgeConfig, JudgeRunner
from tests.judge_support import ScriptedJudge


async def run(
    judge: ScriptedJudge,
    records: list,
    *,
    rate: RateLimit | None = None,
    budget: int = 10_000_000,
    ledger: TokenLedger | None = None,
    retries: int = 3,
    timeout: float = 5.0,
    sample_rate: float = 1.0,
    journal: StatsJournal | None = None,
    buffer: RequestBuffer | None = None,
    registry: CollectorRegistry | None = None,
    crash_before_keep: bool = False,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> tuple[JudgeRunner, list, CollectorRegistry]:
    """One runner judges ``records`` as one message (``crash_before_keep``: it stops after judging,
    before buffering the requests and journaling, as a crash before the commit would)."""
    await judge.start()
    registry = registry or CollectorRegistry()
    metrics = JudgeMetrics(registry)
    client = ChatClient(
        judge.url,
        "judge-1",
        "sk-test-secret",
        timeout_seconds=timeout,
        retries=retries,
        backoff_seconds=0.01,
        on_retry=lambda reason: metrics.retries.labels(reason=reason).inc(),
    )
    try:
        async with client:
            runner = JudgeRunner(
                JudgeConfig(default_rubric(), "judge-1", sample_rate=sample_rate),
                client,
                metrics,
                rate_limit=rate or RateLimit(10_000.0, 100),
                budget=DailyBudget(budget, ledger),
                journal=journal,
                buffer=buffer,
                sleep=sleep,
            )
            try:
                await runner.restore()
                if crash_before_keep:
                    events = (await runner.judge(records)).events
                else:
                    events = await runner.handle(records)
            finally:
                runner.close()
    finally:
        await judge.stop()
    return runner, events, registry


def value(registry: CollectorRegistry, name: str, labels: dict | None = None) -> float:
    found = registry.get_sample_value(name, labels or {})
    return 0.0 if found is None else found
