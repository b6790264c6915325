"""Consumer lag through the real broker: exported per source partition while the worker is behind
its backlog, and zero once it has caught up (MonitorConsumerLagHigh reads it)."""

from __future__ import annotations

import asyncio
import re
import time

from tests_support import inference, wait_until

from monitor.adapters.producer import EventProducer

N = 1200  # at 2 messages a batch, about 5 s behind unloaded (batches cut from fetched messages held)


def lag_series(worker) -> dict[str, float]:
    """``topic/partition`` -> messages behind, as the worker's /metrics exports them."""
    series = {}
    for line in worker.metrics_text().splitlines():
        found = re.match(
            r'monitor_consumer_lag_messages\{partition="(\d+)",topic="([^"]+)"\} (\S+)', line
        )
        if found:
            series[f"{found[2]}/{found[1]}"] = float(found[3])
    return series


def test_lag_is_exported_while_behind_and_zero_once_caught_up(deployment, start_worker):
    base = time.time() - 120
    events = [inference(f"r{i}", base + i * 0.01) for i in range(N)]

    async def send() -> None:  # one event per message: a backlog of N messages
        async with EventProducer(
            deployment.broker.bootstrap, topics=deployment.topics, batch_size=1
        ) as producer:
            report = await producer.send("inference", events)
            assert not report.rejected

    asyncio.run(send())
    worker = start_worker(MONITOR_BATCH_SIZE="2")  # many small batches: seconds behind
    behind: list[dict[str, float]] = []

    def lagging() -> bool:
        seen = lag_series(worker)
        if seen and sum(seen.values()) > 0:
            behind.append(seen)
        return bool(behind)

    wait_until(lagging, timeout=60, what="a lag above zero while the backlog is read")
    assert all(key.startswith(deployment.topics["inference"]) for key in behind[0])
    assert sum(behind[0].values()) < N
    wait_until(
        lambda: worker.metric("monitor_events_total", {"kind": "inference"}) == N,
        timeout=240,
        what="the backlog",
    )
    wait_until(
        lambda: (seen := lag_series(worker)) != {} and set(seen.values()) == {0.0},
        timeout=30,
        what="zero lag on every partition",
    )
    assert len(lag_series(worker)) == deployment.partitions
