"""MONITOR_FEEDBACK_DELAY through a worker: feedback that arrives after its window closed is judged
by the outcome rules once the delay has passed, and pages."""

from __future__ import annotations

import asyncio
import time

from tests_support import E2E_REFRESH_SECONDS, reader_for, wait_until

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


def start_delayed(start_worker, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    return start_worker(
        MONITOR_ALERT_RULES=str(rules),
        MONITOR_ALLOWED_LATENESS=f"{LATENESS}s",
        MONITOR_FEEDBACK_DELAY=f"{DELAY}s",
        MONITOR_IDLE_TIMEOUT="1h",
    )


def window_zero() -> tuple[float, list[dict]]:
    """Window 0's start and its inferences; everything stays in the past."""
    start = (int(time.time()) // WINDOW - 10) * WINDOW
    return start, [
        {
            "request_id": f"r{i}",
            "timestamp": start + i * WINDOW / PER_WINDOW,
            "model": "m",
            "model_version": "v1",
        }
        for i in range(PER_WINDOW)
    ]


def judged(reader, what: str) -> float:
    """How far the leader's pass ``what`` (``last_window`` or ``last_outcome_window``) has judged."""
    return reader.query(
        f"SELECT JSONExtractFloat(argMax(state, updated_at), '{what}') "
        "FROM monitor.alert_state WHERE name = 'leader'"
    ).rows[0][0]


def assert_window_zero_paged(reader, start: float, what: str) -> None:
    """The outcome rule fires, once, on window 0's 300 unhappy users."""
    wait_until(
        lambda: reader.query("SELECT count() FROM monitor.alerts").rows[0][0] > 0,
        timeout=60,
        what=what,
    )
    [(status, rule, starts_at, description)] = reader.query(
        "SELECT status, rule, toFloat64(starts_at), description FROM monitor.alerts"
    ).rows
    assert (status, rule, starts_at) == ("firing", "satisfaction_low", start + WINDOW)
    assert "satisfaction 0" in description and "n=300" in description


def test_feedback_after_the_close_is_judged_after_the_delay(deployment, start_worker, tmp_path):
    worker = start_delayed(start_worker, tmp_path)
    reader = reader_for(worker)
    start, inferences = window_zero()
    send(deployment, "inference", inferences + [closer(start + WINDOW + LATENESS)])
    wait_until(  # window 0 closed and judged by the other rules: no feedback, nothing to say
        lambda: judged(reader, "last_window") >= start,
        timeout=60,
        what="window 0 to be judged at its close",
    )
    feedback = [  # unhappy users, 100 s after their answers: after the window closed, but no
        # feedback event time is past its end + lateness + delay yet
        {"request_id": e["request_id"], "timestamp": e["timestamp"] + 100, "rating": 1}
        for e in inferences
    ]
    send(deployment, "feedback", feedback)
    wait_until(
        lambda: worker.metric("monitor_events_total", {"kind": "feedback"}) >= PER_WINDOW,
        timeout=60,
        what="the feedback to be written",
    )
    time.sleep(4 * E2E_REFRESH_SECONDS)  # four of the leader's runs
    assert reader.query("SELECT count() FROM monitor.alerts").rows == [(0,)]
    # feedback of another request moves the feedback topic's clock (and the closing watermark)
    # past window 0's end + lateness + delay
    late = start + WINDOW + LATENESS + DELAY
    send(deployment, "feedback", [{"request_id": "elsewhere", "timestamp": late, "rating": 5}])
    assert_window_zero_paged(reader, start, "the outcome rules to judge window 0 after the delay")


def test_a_replay_whose_feedback_comes_after_all_its_inferences_is_judged_with_it(
    deployment, start_worker, tmp_path
):
    """A replay sends every inference, then the feedback: the inferences' watermark passes window
    0's end + lateness + delay before any feedback is in. The outcome rules wait for the feedback
    topic's own watermark; they judged the window without its feedback before."""
    worker = start_delayed(start_worker, tmp_path)
    reader = reader_for(worker)
    start, inferences = window_zero()
    send(deployment, "inference", inferences + [closer(start + 5 * WINDOW + LATENESS + DELAY)])
    wait_until(
        lambda: judged(reader, "last_window") >= start + 4 * WINDOW,
        timeout=60,
        what="windows 0-4 to be judged by the other rules",
    )
    assert judged(reader, "last_outcome_window") < start  # no feedback written: not judged yet
    feedback = [  # unhappy users, a few seconds after their answers
        {"request_id": e["request_id"], "timestamp": e["timestamp"] + 5, "rating": 1}
        for e in inferences
    ]
    send(deployment, "feedback", feedback)
    assert judged(reader, "last_outcome_window") < start  # window 0's feedback is not all in
    send(deployment, "feedback", [closer_feedback(start + WINDOW + LATENESS + DELAY)])
    assert_window_zero_paged(reader, start, "the outcome rules to judge window 0 with its feedback")


def closer_feedback(at: float) -> dict:
    """Feedback for the replay's closer: its time moves the feedback topic's watermark to ``at``."""
    return {"request_id": "closer-late", "timestamp": at, "rating": 5}
