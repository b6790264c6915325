"""Idle time moves time: live traffic stops, the last window is still closed and scored, the
shipped traffic-drop rule pages a real webhook and resolves when traffic returns."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
from tests_support import E2E_REFRESH_SECONDS, Receiver, build_baseline, reader_for, wait_until

from monitor.adapters.producer import EventProducer

WINDOW = 4
IDLE = 2
RATE = 50  # events per second: 200 per window, above the shipped rule's 50 expected events
SLACK = 20  # seconds allowed on top of the bound for a loaded test machine


def live_traffic(deployment, seconds: float, first: int) -> float:
    """Events stamped with the wall clock for ``seconds``; returns the last event time."""
    rng = np.random.default_rng(first)

    async def send() -> float:
        last, n = 0.0, first
        async with EventProducer(
            deployment.broker.bootstrap, topics=deployment.topics, batch_size=10
        ) as producer:
            deadline = time.time() + seconds
            while time.time() < deadline:
                last = time.time()
                await producer.send(
                    "inference",
                    [
                        {
                            "request_id": f"r{n + i}",
                            "timestamp": last,
                            "model": "m",
                            "model_version": "v1",
                            "features": {"x": float(rng.normal())},
                        }
                        for i in range(RATE // 5)
                    ],
                )
                n += RATE // 5
                await asyncio.sleep(0.2)
        return last

    return asyncio.run(send())


def statuses(receiver: Receiver) -> list[tuple[str, str]]:
    return [
        (doc["status"], doc["recommended_action"])
        for doc in (json.loads(b) for b, _ in receiver.posts)
    ]


def test_traffic_stops_last_window_scored_and_traffic_drop_fires_then_resolves(
    deployment, start_worker, tmp_path
):
    deployment.window = f"{WINDOW}s"
    rng = np.random.default_rng(1)
    build_baseline(
        tmp_path / "reference.jsonl",
        ({"features": {"x": float(rng.normal())}} for _ in range(500)),
        deployment.env(),
    )
    webhook = Receiver().start()
    try:
        worker = start_worker(
            MONITOR_ALLOWED_LATENESS="0s",
            MONITOR_IDLE_TIMEOUT=f"{IDLE}s",
            MONITOR_ALERT_WEBHOOK_URL=webhook.url,
            MONITOR_ALERTS_TO_KAFKA="false",
            MONITOR_BASELINE_SAMPLES="100000",
        )
        reader = reader_for(worker)
        last = live_traffic(deployment, 2.5 * WINDOW, 0)
        last_window = last // WINDOW * WINDOW
        # nothing passes the last window's end: only the idle timeout closes it
        bound = last_window + WINDOW + IDLE + E2E_REFRESH_SECONDS - time.time()  # + lateness 0
        wait_until(
            lambda: (
                reader.query(
                    "SELECT count() FROM monitor.drift_windows FINAL WHERE toFloat64(window_start) = {w:Float64}",
                    {"w": last_window},
                ).rows[0][0]
                == 1
            ),
            timeout=bound + SLACK,
            what="the last window's drift row",
        )
        wait_until(
            lambda: statuses(webhook) == [("firing", "check_serving_path")],
            timeout=WINDOW + IDLE + SLACK,
            what="the traffic-drop alert at the webhook",
        )
        firing = json.loads(webhook.posts[0][0])
        assert firing["evidence"]["breached"] == ["traffic_drop"]
        assert firing["evidence"]["traffic"]["expected_events"] >= 50
        scored = reader.query(
            "SELECT n_current, n_events, partial FROM monitor.drift_windows FINAL "
            "WHERE toFloat64(window_start) = {w:Float64}",
            {"w": last_window},
        ).rows
        assert scored[0][0] == scored[0][1] > 0 and scored[0][2] == 0

        live_traffic(deployment, 2 * WINDOW, 100_000)  # traffic returns
        wait_until(
            lambda: (
                statuses(webhook)
                == [("firing", "check_serving_path"), ("resolved", "check_serving_path")]
            ),
            timeout=2 * WINDOW + IDLE + SLACK,
            what="the traffic-drop alert to resolve",
        )
        stored = reader.query("SELECT status FROM monitor.alerts ORDER BY created_at").rows
        assert [s for (s,) in stored] == ["firing", "resolved"]
    finally:
        webhook.stop()
