"""A segment key whose values are unbounded (a user id listed in MONITOR_SEGMENT_KEYS) adds at most
MONITOR_MAX_SEGMENT_VALUES rows per key to a batch's windows, through the real broker and worker:
the most frequent values keep their rows, the rest count under KEY=(other), the whole traffic exact."""

from __future__ import annotations

import asyncio
import time

from tests_support import inference, reader_for, wait_until

from monitor.adapters.producer import EventProducer

WINDOW = 60
HEAVY = [f"a{i}" for i in range(5)]  # 20 requests each: every partition's most frequent values
SINGLETONS = [f"z{i:03d}" for i in range(300)]  # one request each, and later in a tie
ROWS = "SELECT segment, count FROM monitor.metric_windows FINAL WHERE metric = 'task_completion'"


def publish(deployment, kind: str, events: list[dict]) -> None:
    """The events in one message a partition."""

    async def send() -> None:
        async with EventProducer(
            deployment.broker.bootstrap, topics=deployment.topics, batch_size=1000
        ) as producer:
            assert not (await producer.send(kind, events)).rejected

    asyncio.run(send())


def test_a_key_with_a_value_per_request_folds_its_rare_values_into_other(deployment, start_worker):
    worker = start_worker(
        MONITOR_SEGMENT_KEYS='["user"]', MONITOR_MAX_SEGMENT_VALUES="5", MONITOR_WINDOW="1m"
    )
    start = (int(time.time()) // WINDOW - 2) * WINDOW
    users = [user for user in HEAVY for _ in range(20)] + SINGLETONS
    inferences = [
        inference(f"r{i}", start + 1.0 + i / 100, segment={"user": user})
        for i, user in enumerate(users)
    ]
    publish(deployment, "inference", inferences)
    wait_until(
        lambda: worker.metric("monitor_events_total", {"kind": "inference"}) == len(users),
        timeout=30,
        what="the inferences",
    )
    feedback = [
        {"request_id": e["request_id"], "timestamp": e["timestamp"] + 5, "task_completed": True}
        for e in inferences
    ]
    publish(deployment, "feedback", feedback)

    def completion_rows() -> dict[str, float]:
        return dict(reader_for(worker).query(ROWS).rows)

    expected = {"": 400.0, "user=(other)": 300.0, **{f"user={u}": 20.0 for u in HEAVY}}
    wait_until(lambda: completion_rows() == expected, timeout=30, what="the capped segments")
