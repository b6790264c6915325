"""Fault: a sink down across a worker restart. The webhook receiver is down when the alert fires,
the worker is killed (SIGKILL) with the delivery pending, a new worker starts on the same store,
the receiver comes up: it receives the notification exactly once."""

from __future__ import annotations

import asyncio
import json
import time

from tests_support import SLOW_ANSWERS_RULE, Receiver, inference, reader_for, wait_until

from monitor.adapters.producer import EventProducer

RULES = SLOW_ANSWERS_RULE + "    runbook_url: https://runbooks.example/latency\n"


def outbox_states(reader) -> list[tuple[str, str]]:
    return [
        tuple(r)
        for r in reader.query(
            "SELECT sink, state FROM monitor.alert_outbox WHERE sink = 'webhook' ORDER BY updated_at"
        ).rows
    ]


def test_a_sink_down_across_a_worker_restart_gets_the_alert_once(
    deployment, start_worker, tmp_path
):
    receiver = Receiver()  # its port is fixed; it is down until the worker has been killed
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    env = {
        "MONITOR_ALERT_WEBHOOK_URL": receiver.url,
        "MONITOR_ALERT_RULES": str(rules),
        "MONITOR_ALLOWED_LATENESS": "0s",
        "MONITOR_WINDOW": "10s",
        "MONITOR_ALERTS_TO_KAFKA": "false",
    }
    first = start_worker(**env)
    start = (
        int(time.time()) // 10 - 6
    ) * 10  # a closed window; one later event moves the watermark past it
    events = [inference(f"slow-{i}", start + i * 0.2, latency_ms=250.0) for i in range(20)]
    events.append(inference("later", start + 30, latency_ms=250.0))

    async def send() -> None:
        async with EventProducer(deployment.broker.bootstrap, topics=deployment.topics) as producer:
            await producer.send("inference", events)

    asyncio.run(send())
    wait_until(
        lambda: first.metric("monitor_alert_sink_failures_total", {"sink": "webhook"}) >= 1,
        timeout=90,
        what="the alert to fire and its delivery to the webhook that is down to fail",
    )
    assert outbox_states(reader_for(first)) == [("webhook", "pending")]
    first.kill()

    second = start_worker(**env)
    reader = reader_for(second)
    receiver.start()
    try:
        wait_until(
            lambda: ("webhook", "delivered") in outbox_states(reader),
            timeout=90,
            what="the pending delivery to reach the receiver after the restart",
        )
        time.sleep(2)  # room for a second copy, if one were on its way
        assert len(receiver.posts) == 1
        body = receiver.posts[0][0]
        alert = json.loads(body)
        assert (alert["status"], alert["model"], alert["model_version"]) == ("firing", "m", "v1")
        assert b"slow_answers" in body  # the incident names the rule that breached
        assert receiver.posts[0][1]["X-Monitor-Delivery-Id"].startswith(alert["fingerprint"])
        # the restarted leader did not fire the incident again: one alert stored, one delivery
        assert reader.query("SELECT count() FROM monitor.alerts").rows[0][0] == 1
        assert outbox_states(reader) == [("webhook", "pending"), ("webhook", "delivered")]
    finally:
        receiver.stop()
