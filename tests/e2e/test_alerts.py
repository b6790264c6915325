"""Alerts end to end: injected input drift plus an outcome drop make one incident with the right
recommended action, at a real Alertmanager and a signed webhook, and resolve after recovery."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time

import numpy as np
from deploy_names import EMBEDDING_PANELS, EXPERIMENT_PANELS, SHADOW_PANELS, clickhouse_panels
from tests_support import (
    Receiver,
    build_baseline,
    missing_service,
    reader_for,
    start_alertmanager,
    wait_until,
)

from monitor.adapters.producer import EventProducer

WINDOW = 60
PHASES = (["normal"] * 4) + (["incident"] * 4) + (["normal"] * 5)
PER_WINDOW = 400
# A window closes when the newest event time written passes its end plus the allowed lateness: the
# lateness is what waits for a partition behind the newest one (here the feedback topic, published
# after the inferences). So the lateness covers the incident part of a publish, and each part is
# closed by a later event once everything published before it is written (never by the wall clock:
# the idle timeout is longer than the test).
LATENESS = 4 * WINDOW
SECRET = "s3cret"
RULES = """
rules:
  - name: input_drift_significant
    signal: drift
    severity: warning
    metric: drift_severity
    condition: above
    threshold: 1.5
    min_samples: 200
    for_windows: 1
    cooldown_seconds: 0
    runbook_url: https://runbooks.example/drift
  - name: human_takeover_high
    signal: metric
    severity: critical
    metric: human_takeover_rate
    condition: above
    threshold: 0.15
    min_samples: 100
    for_windows: 2
    cooldown_seconds: 0
    runbook_url: https://runbooks.example/takeover
"""


def features(rng, drifted: bool) -> dict:
    return {
        "x1": float(rng.normal(4.0 if drifted else 0.0, 1.0)),
        "x2": float(rng.normal(0.0, 1.0)),
        "c1": str(rng.choice(["a", "b", "c"], p=[0.1, 0.1, 0.8] if drifted else [0.5, 0.3, 0.2])),
    }


def publish(deployment, windows: range, start: int) -> None:
    rng = np.random.default_rng(21 + windows.start)
    inferences, feedback = [], []
    for w in windows:
        phase = PHASES[w]
        bad = phase == "incident"
        for i in range(PER_WINDOW):
            t = start + w * WINDOW + i * WINDOW / PER_WINDOW
            rid = f"r{w}-{i}"
            inferences.append(
                {
                    "request_id": rid,
                    "timestamp": t,
                    "model": "m",
                    "model_version": "v1",
                    "features": features(rng, bad),
                }
            )
            feedback.append(
                {
                    "request_id": rid,
                    "timestamp": t + 1,
                    "human_takeover": bool(rng.random() < (0.4 if bad else 0.03)),
                    "rating": int(rng.integers(1, 3) if bad else rng.integers(4, 6)),
                }
            )

    async def send() -> None:
        async with EventProducer(
            deployment.broker.bootstrap, topics=deployment.topics, batch_size=100
        ) as producer:
            await producer.send("inference", inferences)
            await producer.send("feedback", feedback)

    asyncio.run(send())


def close_windows_up_to(deployment, worker, window_end: float, published_windows: int) -> None:
    """Once every event published so far is written (feedback included), one event that closes the
    windows ending at or before ``window_end`` and no later one."""
    for kind in ("inference", "feedback"):
        wait_until(
            lambda kind=kind: (
                worker.metric("monitor_events_total", {"kind": kind})
                >= published_windows * PER_WINDOW
            ),
            timeout=90,
            what=f"every published {kind} to be written",
        )

    async def send() -> None:
        async with EventProducer(deployment.broker.bootstrap, topics=deployment.topics) as producer:
            await producer.send(
                "inference",
                [
                    {
                        "request_id": f"closer-{window_end:.0f}",
                        "model": "m",
                        "model_version": "v1",
                        "timestamp": window_end + LATENESS,
                        "features": features(np.random.default_rng(5), False),
                    }
                ],
            )

    asyncio.run(send())


def build_reference(tmp_path, store_url: str) -> None:
    rng = np.random.default_rng(3)
    build_baseline(
        tmp_path / "reference.jsonl",
        ({"features": features(rng, False)} for _ in range(3000)),
        {"MONITOR_CLICKHOUSE_URL": store_url},
    )


def statuses(receiver: Receiver) -> list[tuple[str, str]]:
    out = []
    for body, _ in receiver.posts:
        doc = json.loads(body)
        for alert in doc.get("alerts", [doc]):
            labels = alert.get("labels", alert)
            out.append((alert.get("status"), labels.get("model_version")))
    return out


def test_drift_and_outcome_drop_page_once_with_an_action_and_resolve(
    deployment, start_worker, tmp_path
):
    am_hook = Receiver().start()
    started = start_alertmanager(tmp_path, am_hook.url)
    if started is None:
        missing_service("prometheus-alertmanager (apt-get install prometheus-alertmanager)")
    am_process, am_url = started
    webhook = Receiver()  # down at first: the worker must retry until it is up
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    try:
        build_reference(tmp_path, f"chdb://{tmp_path / 'store'}")
        worker = start_worker(
            MONITOR_ALERTMANAGER_URL=am_url,
            MONITOR_ALERT_WEBHOOK_URL=webhook.url,
            MONITOR_ALERT_WEBHOOK_SECRET=SECRET,
            MONITOR_ALERT_RULES=str(rules),
            MONITOR_ALLOWED_LATENESS=f"{LATENESS}s",
            MONITOR_IDLE_TIMEOUT="1h",
        )
        reader = reader_for(worker)
        # the incident first; recovery only once Alertmanager has notified it (its grouping is timed)
        # old enough that the last closer (lateness after the last window) is not in the future
        start = (int(time.time()) // WINDOW - len(PHASES) - 1 - LATENESS // WINDOW) * WINDOW
        publish(deployment, range(8), start)
        close_windows_up_to(deployment, worker, start + 8 * WINDOW, 8)
        wait_until(
            lambda: statuses(am_hook) == [("firing", "v1")],
            timeout=90,
            what="Alertmanager to notify the firing incident",
        )
        publish(deployment, range(8, len(PHASES)), start)
        close_windows_up_to(deployment, worker, start + len(PHASES) * WINDOW, len(PHASES))
        wait_until(
            lambda: reader.query(
                "SELECT count() FROM monitor.alerts WHERE status = 'resolved'"
            ).rows[0][0],
            timeout=150,
            what="the incident to resolve",
        )
        wait_until(
            lambda: worker.metric("monitor_alert_sink_failures_total", {"sink": "webhook"}) > 0,
            timeout=60,
            what="a failed delivery to the webhook that is down",
        )
        webhook.start()

        stored = reader.query(
            "SELECT status, recommended_action, evidence, severity FROM monitor.alerts "
            "ORDER BY created_at"
        ).rows
        assert [r[0] for r in stored] == [
            "firing",
            "resolved",
        ]  # one incident: fires once, resolves once
        assert stored[0][1] == "fine_tune"  # input drift and outcome degradation
        evidence = json.loads(stored[0][2])
        assert {f["feature"] for f in evidence["top_drifted_features"]} >= {"x1", "c1"}
        takeover = next(m for m in evidence["metrics"] if m["metric"] == "human_takeover")
        assert takeover["low"] < takeover["value"] < takeover["high"] and takeover["value"] > 0.15
        assert stored[0][3] == "warning"  # the rule that paged first: drift, for 1 window
        trend = reader.query(evidence["trend_query"]).rows
        assert len(trend) >= 8  # the ready query runs as-is and returns the trend
        # the Grafana dashboard, default variables, shows this run (experiment and shadow panels: their own runs)
        for panel, sql in clickhouse_panels(
            skip=EXPERIMENT_PANELS | SHADOW_PANELS | EMBEDDING_PANELS
        ):
            assert reader.query(sql).rows, f"Grafana {panel} is empty after a real run: {sql}"

        wait_until(
            lambda: statuses(am_hook) == [("firing", "v1"), ("resolved", "v1")],
            timeout=60,
            what="Alertmanager to notify firing then resolved",
        )
        am_alert = json.loads(am_hook.posts[0][0])["alerts"][0]
        assert am_alert["annotations"]["recommended_action"] == "fine_tune"
        assert am_alert["annotations"]["runbook_url"] == "https://runbooks.example/drift"
        assert am_alert["labels"]["severity"] == "warning"

        wait_until(
            lambda: len(webhook.posts) == 2,
            timeout=60,
            what="the webhook, once back up, to get both",
        )
        for body, headers in webhook.posts:
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert headers["X-Monitor-Signature"] == expected
        assert [json.loads(b)["status"] for b, _ in webhook.posts] == ["firing", "resolved"]
    finally:
        webhook.stop()
        am_hook.stop()
        am_process.terminate()
        am_process.wait(10)
