"""MONITOR_FEEDBACK_DELAY through a worker: feedback that arrives after its window closed is judged
by the outcome rules once the delay has passed, and pages."""

from __future__ import annotations

import asyncio
import time

from tests_support import reader_for, wait_until

from monitor.adapters.producer import EventProducer

WINDOW = 60
LATENESS = 60
DELAY = 120
PER_WINDOW = 300
RULES = """
rules:
  - name: satisfaction_low
    signal: metric
    severity: warning
    metric: satisfaction_rate
    condition: below
    threshold: 0.5
    min_samples: 100
    for_windows: 1
    cooldown_seconds: 0
"""


def send(deployment, kind: str, events: list[dict]) -> None:
    async def run() -> None:
        async with EventProducer(deployment.broker.bootstrap, topics=deployment.topics) as producer:
            await producer.send(kind, events)

    asyncio.run(run())


def closer(at: float) -> dict:
    """One inference whose event time moves the closing watermark to ``at``."""
    return {"request_id": f"closer-{at:.0f}", "timestamp": at, "model": "m", "model_version": "v1"}


def test_feedback_after_the_close_is_judged_after_the_delay(deployment, start_worker, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    worker = start_worker(
        MONITOR_ALERT_RULES=str(rules),
        MONITOR_ALLOWED_LATENESS=f"{LATENESS}s",
        MONITOR_FEEDBACK_DELAY=f"{DELAY}s",
        MONITOR_IDLE_TIMEOUT="1h",
    )
    reader = reader_for(worker)
    start = (int(time.time()) // WINDOW - 10) * WINDOW  # window 0; everything stays in the past
    inferences = [
        {
            "request_id": f"r{i}",
            "timestamp": start + i * WINDOW / PER_WINDOW,
            "model": "m",
            "model_version": "v1",
        }
        for i in range(PER_WINDOW)
    ]
    send(deployment, "inference", inferences + [closer(start + WINDOW + LATENESS)])
    wait_until(  # window 0 closed and judged by the other rules: no feedback, nothing to say
        lambda: (
            reader.query(
                "SELECT JSONExtractFloat(argMax(state, updated_at), 'last_window') "
                "FROM monitor.alert_state WHERE name = 'leader'"
            ).rows[0][0]
            >= start
        ),
        timeout=60,
        what="window 0 to be judged at its close",
    )
    feedback = [  # unhappy users, three minutes after their answers: after the window closed
        {"request_id": e["request_id"], "timestamp": e["timestamp"] + 180, "rating": 1}
        for e in inferences
    ]
    send(deployment, "feedback", feedback)
    wait_until(
        lambda: worker.metric("monitor_events_total", {"kind": "feedback"}) >= PER_WINDOW,
        timeout=60,
        what="the feedback to be written",
    )
    assert reader.query("SELECT count() FROM monitor.alerts").rows == [(0,)]
    send(deployment, "inference", [closer(start + WINDOW + LATENESS + DELAY)])
    wait_until(
        lambda: reader.query("SELECT count() FROM monitor.alerts").rows[0][0] > 0,
        timeout=60,
        what="the outcome rules to judge window 0 after the delay",
    )
    [(status, rule, starts_at, description)] = reader.query(
        "SELECT status, rule, toFloat64(starts_at), description FROM monitor.alerts"
    ).rows
    assert (status, rule, starts_at) == ("firing", "satisfaction_low", start + WINDOW)
    assert "satisfaction 0" in description and "n=300" in description
