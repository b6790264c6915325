"""Alert sinks against real receivers: aiohttp servers on loopback, a real Alertmanager, Redis."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import runpy
import subprocess
import textwrap
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from redis_support import (
    READER,
    READER_PASSWORD,
    PasswordRedis,
    password_redis_server,
    redis_cluster_nodes,
)
from tests_support import missing_service, start_alertmanager

from monitor.adapters.alert_sinks import (
    SERVICE,
    AlertDeduplicator,
    AlertmanagerSink,
    DeliveryQueue,
    KafkaAlertSink,
    LogSink,
    WebhookSink,
    alertmanager_payload,
    delivery_key,
)
from monitor.adapters.local_broker import free_port
from monitor.alerts.state import Alert
from monitor.errors import StoreRefused

SECRET = "s3cret"


def make_alert(
    rule: str = "human_takeover_high", version: str = "v1", starts_at: float | None = None
) -> Alert:
    return Alert.firing(
        rule,
        "warning",
        "chat",
        version,
        time.time() - 60 if starts_at is None else starts_at,
        "chat v1: human takeover 22% > 15%",
        description="Takeover rate is above the limit.",
        recommended_action="retrain_concept_drift",
        runbook_url="https://runbooks.example/takeover",
        evidence={
            "metrics": [{"metric": "human_takeover_rate", "value": 0.22}],
            "trend_query": "SELECT 1",
        },
    )


@dataclass
class Receiver:
    """A loopback HTTP server recording what it receives; ``fail_first`` answers 503 that many times."""

    port: int = field(default_factory=free_port)
    fail_first: int = 0
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    calls: int = 0
    got: asyncio.Event = field(default_factory=asyncio.Event)
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.calls <= self.fail_first:
            return web.Response(status=503, text="busy")
        self.bodies.append(await request.read())
        self.headers.append(dict(request.headers))
        self.got.set()
        return web.Response(status=200)

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        app.router.add_post("/api/v2/alerts", self.handle)  # stands in for Alertmanager's API
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()


def test_webhook_signature_verifies_with_the_shared_secret() -> None:
    async def scenario() -> None:
        receiver = await Receiver().start()
        sink = WebhookSink(receiver.url, secret=SECRET)
        try:
            alert = make_alert()
            await sink.send(alert)
        finally:
            await sink.close()
            await receiver.stop()
        body, headers = receiver.bodies[0], receiver.headers[0]
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Monitor-Signature"], expected)
        forged = "sha256=" + hmac.new(b"wrong", body, hashlib.sha256).hexdigest()
        assert headers["X-Monitor-Signature"] != forged
        decoded = json.loads(body)
        assert decoded["fingerprint"] == alert.fingerprint and decoded["status"] == "firing"
        assert decoded["evidence"]["trend_query"] == "SELECT 1"

    asyncio.run(scenario())


def _receiver_recipe() -> str:
    """The Python block of docs/alerts.md that tells a webhook receiver how to verify a signature."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "alerts.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    recipes = [block for block in blocks if "hmac" in block]
    assert len(recipes) == 1, recipes
    return textwrap.dedent(recipes[0])


def test_the_documented_receiver_recipe_verifies_a_real_delivery(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Copied as written into a receiver that has the worker's setting in its environment."""
    secret = "ünïcode-s3cret"  # the setting is text; its UTF-8 bytes key the HMAC
    monkeypatch.setenv("MONITOR_ALERT_WEBHOOK_SECRET", secret)
    receiver_py = tmp_path / "receiver.py"
    receiver_py.write_text(_receiver_recipe())
    verify = runpy.run_path(str(receiver_py))["signed_by_the_monitor"]
    receiver = Receiver()

    async def scenario() -> None:
        await receiver.start()
        sink = WebhookSink(receiver.url, secret=secret)
        try:
            await sink.send(make_alert())
        finally:
            await sink.close()
            await receiver.stop()

    asyncio.run(scenario())
    body, signature = receiver.bodies[0], receiver.headers[0]["X-Monitor-Signature"]
    assert verify(body, signature) is True
    assert verify(body.replace(b"chat", b"chad"), signature) is False
    assert verify(body, None) is False  # no header: refused, not a KeyError
    assert verify(body, "sha256=" + "é" * 64) is False  # a forged non-ASCII header: no TypeError


def test_webhook_without_secret_sends_no_signature() -> None:
    async def scenario() -> None:
        receiver = await Receiver().start()
        sink = WebhookSink(receiver.url)
        try:
            await sink.send(make_alert())
        finally:
            await sink.close()
            await receiver.stop()
        assert "X-Monitor-Signature" not in receiver.headers[0]

    asyncio.run(scenario())


def test_receiver_down_then_up_gets_the_alert_and_failures_are_counted() -> None:
    async def scenario() -> None:
        receiver = Receiver()  # not started yet: connection refused
        failures: list[str] = []
        sizes: list[int] = []
        queue = DeliveryQueue(
            [WebhookSink(receiver.url, secret=SECRET)],
            base_delay=0.05,
            max_delay=0.2,
            on_failure=lambda name, _a, _e: failures.append(name),
            on_queue_size=lambda _n, size: sizes.append(size),
        )
        alert = make_alert()
        queue.enqueue(alert)
        queue.enqueue(alert.resolved(time.time()))
        assert not await queue.flush(timeout=0.5)  # still retrying
        assert failures and set(failures) == {"webhook"}
        assert queue.pending() == {"webhook": 2}
        await receiver.start()
        try:
            assert await queue.flush(timeout=10)
        finally:
            await queue.close()
            await receiver.stop()
        statuses = [json.loads(b)["status"] for b in receiver.bodies]
        assert statuses == ["firing", "resolved"]  # order kept per sink
        assert queue.failures["webhook"] == len(failures) and queue.delivered["webhook"] == 2
        assert sizes[-1] == 0

    asyncio.run(scenario())


def test_a_failing_sink_never_blocks_the_others() -> None:
    async def scenario() -> None:
        good = await Receiver().start()
        dead = WebhookSink(f"http://127.0.0.1:{free_port()}/hook", name="dead")
        queue = DeliveryQueue(
            [dead, WebhookSink(good.url, name="good")], base_delay=0.05, max_delay=0.1
        )
        try:
            for version in ("v1", "v2", "v3"):
                queue.enqueue(make_alert(version=version))
            await _wait_for(lambda: len(good.bodies) == 3, 5)
            assert [json.loads(b)["model_version"] for b in good.bodies] == ["v1", "v2", "v3"]
            assert queue.pending() == {"dead": 3, "good": 0}
            assert queue.failures["dead"] >= 1 and queue.failures["good"] == 0
        finally:
            assert not await queue.close(timeout=0.2)  # the dead sink still holds its alerts
            await good.stop()

    asyncio.run(scenario())


def test_max_attempts_gives_up_and_reports_it() -> None:
    async def scenario() -> None:
        gave_up: list[str] = []
        dead = WebhookSink(f"http://127.0.0.1:{free_port()}/hook", name="dead")
        queue = DeliveryQueue(
            [dead],
            max_attempts=3,
            base_delay=0.01,
            on_give_up=lambda name, alert, _e: gave_up.append(alert.model_version),
        )
        queue.enqueue(make_alert(version="v1"))
        queue.enqueue(make_alert(version="v2"))
        assert await queue.close(timeout=5)
        assert (
            gave_up == ["v1", "v2"]
            and queue.failures["dead"] == 6
            and queue.pending() == {"dead": 0}
        )

    asyncio.run(scenario())


def test_sink_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="not unique"):
        DeliveryQueue([LogSink(), LogSink()])


def test_a_failing_delivery_callback_never_stops_the_sink() -> None:
    acknowledged: list[str] = []

    async def acknowledge(name: str, alert: Alert) -> None:
        if alert.model_version == "v1":
            raise RuntimeError("the outbox is gone")
        acknowledged.append(alert.model_version)

    async def run() -> DeliveryQueue:
        queue = DeliveryQueue([LogSink()], on_delivered=acknowledge)
        queue.enqueue(make_alert(version="v1"))
        queue.enqueue(make_alert(version="v2"))
        assert await queue.flush(5)
        await queue.close()
        return queue

    queue = asyncio.run(run())
    assert queue.delivered == {"log": 2} and acknowledged == ["v2"]


def test_backoff_doubles_up_to_the_cap() -> None:
    queue = DeliveryQueue([], base_delay=0.5, max_delay=30)
    assert [queue.delay(n) for n in (1, 2, 3, 7, 8, 20)] == [0.5, 1.0, 2.0, 30, 30, 30]
    with pytest.raises(ValueError, match="max_attempts: 0"):
        DeliveryQueue([], max_attempts=0)


def test_log_and_kafka_sinks(caplog: pytest.LogCaptureFixture) -> None:
    sent: list[tuple[bytes, bytes]] = []

    async def send(key: bytes, value: bytes) -> None:
        sent.append((key, value))

    async def scenario() -> None:
        alert = make_alert()
        await KafkaAlertSink(send).send(alert)
        with caplog.at_level(logging.INFO, logger="alerts-test"):
            await LogSink(logging.getLogger("alerts-test")).send(alert)
            await LogSink(logging.getLogger("alerts-test")).send(alert.resolved(time.time()))
        assert sent[0][0] == alert.fingerprint.encode()
        assert json.loads(sent[0][1])["rule"] == "human_takeover_high"
        assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO]

    asyncio.run(scenario())


def make_escalation(at: float) -> tuple[Alert, Alert]:
    """The old alert, superseded, and the more urgent alert that took its incident over, as
    ``IncidentEvaluator`` sends them when a drift incident's outcomes degrade (built by hand: the
    value ``Alert.superseded`` returns)."""
    drift = Alert.firing(
        "input_drift_significant",
        "warning",
        "chat",
        "v2",
        at - 60,
        "chat v2: input drift, outcomes not known yet, investigate upstream",
        description="Inputs moved.",
        recommended_action="investigate_upstream",
        evidence={"rules": ["input_drift_significant"]},
    )
    rollback = Alert.firing(
        "satisfaction_drop_vs_previous_version",
        "critical",
        "chat",
        "v2",
        at,
        "chat v2: satisfaction fell after the new version, roll back to v1",
        recommended_action="rollback",
    )
    superseded = replace(
        drift.resolved(at),
        evidence={
            **drift.evidence,
            "superseded_by": {"rule": rollback.rule, "action": rollback.recommended_action},
        },
    )
    return superseded, rollback


SUCCESSOR = "satisfaction_drop_vs_previous_version (rollback)"


def test_log_and_kafka_sinks_say_a_superseded_alert_did_not_clear(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent: list[bytes] = []

    async def send(key: bytes, value: bytes) -> None:
        sent.append(value)

    async def scenario() -> None:
        superseded, _ = make_escalation(1000.0)
        await KafkaAlertSink(send).send(superseded)
        await KafkaAlertSink(send).send(make_alert().resolved(1000.0))
        with caplog.at_level(logging.INFO, logger="alerts-test"):
            await LogSink(logging.getLogger("alerts-test")).send(superseded)
        values = [json.loads(v) for v in sent]
        assert [(v["status"], v["resolution"]) for v in values] == [
            ("resolved", "superseded"),
            ("resolved", "cleared"),
        ]
        assert values[0]["evidence"]["superseded_by"] == {
            "rule": "satisfaction_drop_vs_previous_version",
            "action": "rollback",
        }
        [record] = caplog.records
        assert record.levelno == logging.INFO
        assert record.getMessage().startswith(
            f"alert input_drift_significant superseded by {SUCCESSOR}: {{"
        )
        assert "alert resolved" not in record.getMessage()

    asyncio.run(scenario())


def test_an_escalation_reaches_the_receivers_as_superseded_not_cleared() -> None:
    """Through the delivery queue to real loopback receivers: the signed webhook (which answers
    503 first, so the notification is retried) and Alertmanager's API."""

    async def scenario() -> None:
        hook = await Receiver(fail_first=1).start()
        api = await Receiver().start()
        queue = DeliveryQueue(
            [
                WebhookSink(hook.url, secret=SECRET),
                AlertmanagerSink(f"http://127.0.0.1:{api.port}"),
            ],
            base_delay=0.05,
        )
        superseded, rollback = make_escalation(1_767_225_600.0)
        try:
            queue.enqueue(superseded)
            queue.enqueue(rollback)
            assert await queue.flush(timeout=10)
        finally:
            await queue.close()
            await hook.stop()
            await api.stop()
        assert hook.calls == 3  # the superseded notification once refused, then both taken
        old, new = (json.loads(b) for b in hook.bodies)
        assert (old["status"], old["resolution"], old["rule"]) == (
            "resolved",
            "superseded",
            "input_drift_significant",
        )
        assert (new["status"], new["resolution"], new["rule"]) == (
            "firing",
            None,
            "satisfaction_drop_vs_previous_version",
        )
        assert hook.headers[0]["X-Monitor-Delivery-Id"] == (
            f"{superseded.fingerprint}:resolved:1767225540.000"
        )
        assert delivery_key(superseded) == delivery_key(superseded.resolved(1_767_225_600.0))
        [[am_old], [am_new]] = (json.loads(b) for b in api.bodies)
        assert am_old["labels"]["alertname"] == "input_drift_significant"
        assert am_old["endsAt"] == "2026-01-01T00:00:00.000Z"  # the old series stops
        assert am_old["annotations"]["superseded_by"] == SUCCESSOR
        assert am_old["annotations"]["summary"] == (
            f"Superseded by {SUCCESSOR}: chat v2: input drift, outcomes not known yet, "
            "investigate upstream"
        )
        assert am_old["annotations"]["description"].startswith(
            f"Superseded by {SUCCESSOR}: not cleared, the incident goes on under that alert."
        )
        assert "endsAt" not in am_new and "superseded_by" not in am_new["annotations"]

    asyncio.run(scenario())


def test_deduplicator_in_memory_lets_one_send_per_status_and_incident() -> None:
    async def scenario() -> None:
        dedup = AlertDeduplicator()
        alert = make_alert(starts_at=1000.0)
        assert await dedup.should_send(alert)
        assert not await dedup.should_send(alert)
        assert await dedup.should_send(alert.resolved(1300.0))
        assert await dedup.should_send(make_alert(starts_at=5000.0))  # a new incident

    asyncio.run(scenario())


def test_deduplicator_over_redis_lets_exactly_one_worker_send(
    redis_url: str, redis_prefix: str
) -> None:
    async def scenario() -> None:
        workers = [
            AlertDeduplicator(redis_url, ttl_seconds=60, prefix=redis_prefix) for _ in range(4)
        ]
        try:
            alert = make_alert(starts_at=1000.0)
            results = await asyncio.gather(*(w.should_send(alert) for w in workers))
            assert sorted(results) == [False, False, False, True]
            resolved = await asyncio.gather(
                *(w.should_send(alert.resolved(1300.0)) for w in workers)
            )
            assert resolved.count(True) == 1
        finally:
            for w in workers:
                await w.close()

    asyncio.run(scenario())


def test_deduplicator_sends_when_redis_is_unreachable() -> None:
    async def scenario() -> None:
        dedup = AlertDeduplicator(f"redis://127.0.0.1:{free_port()}/0")
        try:
            assert await dedup.should_send(make_alert())
        finally:
            await dedup.close()

    asyncio.run(scenario())


def test_deduplicator_claims_again_over_a_connection_redis_closed(tmp_path: Path) -> None:
    """Redis dropped the idle connection (``CLIENT KILL``, as after a password change or a restart):
    the claim is made on a new one, so another worker's claim still loses. Before: "sending
    anyway", the claim never recorded, and the other worker sent the notification too."""
    alert = make_alert(starts_at=1000.0)

    async def scenario(url: str, kill: Callable[[], None]) -> list[bool]:
        first, second = AlertDeduplicator(url), AlertDeduplicator(url)
        try:
            assert await first.should_send(make_alert(starts_at=1.0))  # its connection, now idle
            kill()
            return [await first.should_send(alert), await second.should_send(alert)]
        finally:
            await first.close()
            await second.close()

    with password_redis_server(tmp_path) as redis:

        def kill() -> None:
            with redis.admin() as admin:
                admin.client_kill_filter(_type="normal")  # every connection but this one

        assert asyncio.run(scenario(redis.url(), kill)) == [True, False]


def test_deduplicator_raises_store_refused_on_a_refusal_it_cannot_wait_out(
    password_redis: PasswordRedis, tmp_path: Path
) -> None:
    """A wrong password, a user who may not SET, a Redis Cluster node: the claim raises (the
    worker stops on it) instead of letting the notification through unclaimed."""

    async def claim(url: str) -> StoreRefused:
        dedup = AlertDeduplicator(url, prefix="refusals:alert-sent:")
        try:
            with pytest.raises(StoreRefused) as refused:
                await dedup.should_send(make_alert())
            return refused.value
        finally:
            await dedup.close()

    port = password_redis.port
    wrong = asyncio.run(claim(password_redis.url("wrong-pw-secret")))
    assert str(wrong) == (
        f"alert deduplicator in Redis at redis://:***@127.0.0.1:{port}/0: claim failed: Redis "
        "refused the credentials (invalid username-password pair or user is disabled.): check the "
        "password (and user) in MONITOR_REDIS_URL"
    )
    reader = asyncio.run(claim(password_redis.url(READER_PASSWORD, user=READER)))
    assert "claim failed: Redis refused a command to MONITOR_REDIS_URL's user (NOPERM " in str(
        reader
    )
    assert str(reader).endswith(
        "grant that user the worker's commands and keys (docs/SECURITY.md, Redis)"
    )
    with redis_cluster_nodes(tmp_path) as cluster:
        moved = asyncio.run(claim(cluster.url(cluster.empty)))
    assert "claim failed: Redis answered MOVED (" in str(moved)
    assert "MONITOR_REDIS_URL points at a Redis Cluster node" in str(moved)


def test_alertmanager_payload_shape() -> None:
    alert = make_alert(starts_at=1_767_225_600.0)
    item = alertmanager_payload(alert, "http://grafana/d/monitor")
    assert item["labels"] == {
        "alertname": "human_takeover_high",
        "severity": "warning",
        "model": "chat",
        "model_version": "v1",
        "service": SERVICE,
    }
    assert item["startsAt"] == "2026-01-01T00:00:00.000Z" and "endsAt" not in item
    assert json.loads(item["annotations"]["evidence"])["trend_query"] == "SELECT 1"
    assert (
        alertmanager_payload(alert.resolved(1_767_225_900.0))["endsAt"]
        == "2026-01-01T00:05:00.000Z"
    )


# --- a real Alertmanager --------------------------------------------------------------------------


@dataclass
class RunningAlertmanager:
    url: str
    hook_port: int


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAlertmanager]:
    hook_port = free_port()
    started = start_alertmanager(
        tmp_path_factory.mktemp("alertmanager"), f"http://127.0.0.1:{hook_port}/hook"
    )
    if started is None:
        missing_service("prometheus-alertmanager (apt-get install prometheus-alertmanager)")
    proc, url = started
    try:
        yield RunningAlertmanager(url, hook_port)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _ready(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def _am_alerts(am: RunningAlertmanager, alertname: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"filter": f'alertname="{alertname}"'})
    with urllib.request.urlopen(f"{am.url}/api/v2/alerts?{query}", timeout=5) as response:
        return json.loads(response.read())


async def _wait_for(predicate: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        await asyncio.sleep(0.1)
    return predicate()


def test_real_alertmanager_receives_firing_then_resolved(alertmanager: RunningAlertmanager) -> None:
    async def scenario() -> None:
        hook = await Receiver(port=alertmanager.hook_port).start()
        queue = DeliveryQueue(
            [AlertmanagerSink(alertmanager.url, generator_url="http://grafana/d/monitor")],
            max_attempts=5,
            base_delay=0.1,
        )
        alert = make_alert(rule="am_takeover_test")
        try:
            queue.enqueue(alert)
            assert await queue.flush(timeout=10)
            active = await _wait_for(lambda: _am_alerts(alertmanager, "am_takeover_test"), 10)
            assert len(active) == 1
            got = active[0]
            assert got["labels"] == {
                "alertname": "am_takeover_test",
                "severity": "warning",
                "model": "chat",
                "model_version": "v1",
                "service": SERVICE,
            }
            assert got["status"]["state"] == "active"
            assert got["annotations"]["recommended_action"] == "retrain_concept_drift"
            assert json.loads(got["annotations"]["evidence"])["trend_query"] == "SELECT 1"
            assert got["generatorURL"] == "http://grafana/d/monitor"

            queue.enqueue(alert.resolved(time.time()))
            assert await queue.flush(timeout=10)
            # resolved alerts leave the active list ...
            assert await _wait_for(lambda: not _am_alerts(alertmanager, "am_takeover_test"), 10)
            # ... and Alertmanager notifies its receiver with status "resolved"
            statuses: list[str] = []

            def notified() -> bool:
                statuses[:] = [json.loads(b)["status"] for b in hook.bodies]
                return "resolved" in statuses

            assert await _wait_for(notified, 15), statuses
            assert statuses[0] == "firing"
            last = json.loads(hook.bodies[-1])
            assert last["alerts"][0]["labels"]["alertname"] == "am_takeover_test"
            assert last["alerts"][0]["status"] == "resolved"
        finally:
            await queue.close()
            await hook.stop()

    asyncio.run(scenario())


def test_real_alertmanager_notifies_a_superseded_alert_as_resolved_with_its_successor(
    alertmanager: RunningAlertmanager,
) -> None:
    """Alertmanager knows firing and resolved only: the superseded alert leaves the active list
    and its receiver gets ``resolved``, with annotations that say the incident goes on."""

    async def scenario() -> None:
        hook = await Receiver(port=alertmanager.hook_port).start()
        queue = DeliveryQueue([AlertmanagerSink(alertmanager.url)], max_attempts=5, base_delay=0.1)
        superseded, rollback = make_escalation(time.time())
        old_name, new_name = superseded.rule, rollback.rule
        try:
            queue.enqueue(replace(superseded, status="firing", ends_at=None, evidence={}))
            assert await queue.flush(timeout=10)
            assert await _wait_for(lambda: _am_alerts(alertmanager, old_name), 10)
            queue.enqueue(superseded)
            queue.enqueue(rollback)
            assert await queue.flush(timeout=10)
            assert await _wait_for(lambda: not _am_alerts(alertmanager, old_name), 10)
            assert await _wait_for(lambda: _am_alerts(alertmanager, new_name), 10)

            def resolved_old() -> list[dict[str, Any]]:
                return [
                    a
                    for body in hook.bodies
                    for a in json.loads(body)["alerts"]
                    if a["status"] == "resolved" and a["labels"]["alertname"] == old_name
                ]

            [got] = await _wait_for(resolved_old, 15)
            assert got["annotations"]["superseded_by"] == SUCCESSOR
            assert got["annotations"]["summary"].startswith(f"Superseded by {SUCCESSOR}: ")
            assert got["annotations"]["description"].startswith(f"Superseded by {SUCCESSOR}: ")
        finally:
            await queue.close()
            await hook.stop()

    asyncio.run(scenario())


def test_a_relative_runbook_is_named_in_the_description_and_not_sent_as_a_link() -> None:
    """Without MONITOR_RUNBOOK_BASE_URL the default rules' runbooks stay docs/alerts.md#...:
    Alertmanager gets no runbook_url it could not open, and the description names the section."""
    relative = replace(make_alert(), runbook_url="docs/alerts.md#outcome-degradation")
    annotations = alertmanager_payload(relative)["annotations"]
    assert "runbook_url" not in annotations
    assert annotations["description"] == (
        "Takeover rate is above the limit. Runbook: docs/alerts.md#outcome-degradation"
    )
    linked = alertmanager_payload(make_alert())["annotations"]
    assert linked["runbook_url"] == "https://runbooks.example/takeover"
    assert linked["description"] == "Takeover rate is above the limit."
