"""The judge end to end: a worker forwards answers to the judge topic, ``monitor judge`` (its own
process and consumer group) grades them at a scripted chat-completions server on loopback and
publishes gen_ai.evaluation.result events to the feedback topic; they join their inferences, show
up as judge_score in metric_windows and fire a judge_score alert when the window closes."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from judge_support import (
    ScriptedJudge,
    ThreadedJudge,
    answer_record,
    closed_ports,
    judge_start_error,
    publish_backlog,
    runner_env,
    stop_cleanly,
)
from proxy_support import JoinThenRefuseProxy
from tests_support import inference, monitor_cli, publish_raw, read_topic, reader_for, wait_until
from tls_support import other_free_port

from monitor.adapters.judge_client import JudgeUnreachable
from monitor.adapters.local_broker import LocalBroker, free_port
from monitor.adapters.producer import EventProducer
from monitor.errors import BrokerError
from monitor.judge.forward import JUDGE_MESSAGE_BYTES
from monitor.settings import Settings
from monitor.tools.judge import run_judge

WINDOW = 60
LATENESS = 30
RULES = """
rules:
  - name: judge_score_low
    signal: metric
    severity: warning
    metric: judge_score
    condition: below
    threshold: 5
    min_samples: 10
    for_windows: 1
    cooldown_seconds: 0
    runbook_url: https://runbooks.example/judge
"""


def publish(deployment, kind: str, events: list[dict]) -> None:
    async def send() -> None:
        async with EventProducer(deployment.broker.bootstrap, topics=deployment.topics) as producer:
            report = await producer.send(kind, events)
            assert not report.rejected, report.rejected[:3]

    asyncio.run(send())


def topics(deployment) -> set[str]:
    async def names() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=deployment.broker.bootstrap)
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    return asyncio.run(names())


def judge_windows(worker) -> list[tuple]:
    return (
        reader_for(worker)
        .query(
            "SELECT toFloat64(window_start), count, value FROM monitor.metric_windows FINAL "
            "WHERE metric = 'judge_score' AND segment = '' ORDER BY window_start"
        )
        .rows
    )


def test_judge_scores_flow_into_windows_and_alerts(deployment, start_worker, tmp_path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    alerts_topic = f"{deployment.prefix}.alerts"
    report = tmp_path / "judge-report.json"
    with (
        ThreadedJudge(ScriptedJudge("quality")) as judge,
        open(tmp_path / "judge.log", "wb") as log,
    ):
        judge_env = {
            "MONITOR_JUDGE_URL": judge.url,
            "MONITOR_JUDGE_MODEL": "judge-1",
            "MONITOR_JUDGE_API_KEY": "sk-e2e-secret",
            "MONITOR_JUDGE_SAMPLE_RATE": "1.0",
            "MONITOR_JUDGE_REQUESTS_PER_SECOND": "200",
            "MONITOR_JUDGE_BURST": "20",
        }
        env = deployment.env(
            MONITOR_ALERT_RULES=str(rules),
            MONITOR_ALERTS_TOPIC=alerts_topic,
            MONITOR_ALLOWED_LATENESS=f"{LATENESS}s",
            MONITOR_IDLE_TIMEOUT="1h",
            **judge_env,
        )
        # the worker first: it declares the judge topic itself (brokers may not auto-create it)
        worker = start_worker(
            MONITOR_ALERT_RULES=str(rules),
            MONITOR_ALERTS_TOPIC=alerts_topic,
            MONITOR_ALLOWED_LATENESS=f"{LATENESS}s",
            MONITOR_IDLE_TIMEOUT="1h",
            **judge_env,
        )
        judge_topic = f"{deployment.prefix}-app.judge"
        wait_until(lambda: judge_topic in topics(deployment), 20, "the judge topic")
        runner = subprocess.Popen(
            [sys.executable, "-m", "monitor", "judge", "--report", str(report)],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            now = time.time()
            start = now // WINDOW * WINDOW
            answers = [
                inference(
                    f"j{i}",
                    now,
                    input_text=f"Why was I charged twice for order {i}?",
                    output_text="poor answer" if i % 4 else "GOOD answer",
                )
                for i in range(24)
            ]
            shadows = [
                {**a, "deployment": "shadow", "model_version": "v2", "output_text": "GOOD shadow"}
                for a in answers[:6]
            ]
            publish(deployment, "inference", answers + shadows)
            wait_until(
                lambda: any(r[0] == start and r[1] == 24 for r in judge_windows(worker)),
                timeout=45,
                what="24 judge scores in the window",
            )
            row = next(r for r in judge_windows(worker) if r[0] == start)
            assert abs(row[2] - (6 * 9 + 18 * 2) / 24) < 1e-9  # GOOD answers score 9, poor ones 2
            assert len(judge.calls) >= 24 + 12  # 24 grades, 6 pairs in both orders
            # one later event closes the window: the judge_score rule fires
            publish(deployment, "inference", [inference("closer", start + WINDOW + LATENESS + 5)])
            alerts = read_topic(deployment.broker.bootstrap, alerts_topic, expected=1, timeout=30)
            assert any("judge_score_low" in json.dumps(a) for a in alerts), alerts
            wait_until(
                lambda: report.exists() and json.loads(report.read_text())["pairs"], 15, "report"
            )
            pairs = json.loads(report.read_text())["pairs"]
            # the shadow is GOOD in all 6 pairs; production too in 2 (i = 0, 4): 4 wins, 2 ties
            assert pairs[0]["shadow_version"] == "v2" and pairs[0]["pairs"] == 6
            assert abs(pairs[0]["win_rate"] - 5 / 6) < 1e-5 and pairs[0]["flip_rate"] == 0.0
            # an unreadable judge message is dead-lettered with its reason, the runner goes on
            publish_raw(deployment.broker.bootstrap, judge_topic, [b"not json", b'[{"kind": "x"}]'])
            dead = read_topic(deployment.broker.bootstrap, deployment.topics["dlq"], expected=2)
            judged = sorted(d["reason"] for d in dead if d["kind"] == "judge")
            assert judged == ["bad_choice", "undecodable"], dead
            assert runner.poll() is None
            assert "sk-e2e-secret" not in (tmp_path / "judge.log").read_text()
        finally:
            stop_cleanly(runner)


@pytest.fixture()
def judge_url() -> Iterator[str]:
    """A scripted endpoint on loopback: it answers the judge's start-up check."""
    with ThreadedJudge(ScriptedJudge()) as judge:
        yield judge.url


def judge_settings(bootstrap: str, judge_url: str, **extra: object) -> Settings:
    """Judging on; no completion is ever asked for: these runs fail before the first record."""
    return Settings(
        kafka_bootstrap=bootstrap,
        judge_url=judge_url,
        judge_model="judge-1",
        **extra,  # type: ignore[arg-type]
    )


def test_judge_stops_the_consumer_it_started_when_the_producer_cannot_start(
    tmp_path, unique, judge_url
) -> None:
    """The broker stops taking connections once the judge's consumer has joined its group: the
    producer cannot start and run_judge fails, and every client connection it opened is closed
    (the consumer it had started is stopped). The error names the broker's address."""
    proxy_port = free_port()
    settings = judge_settings(f"127.0.0.1:{proxy_port}", judge_url, app_id=f"t{unique}")

    async def start_judge(proxy: JoinThenRefuseProxy) -> None:
        await proxy.start()
        try:
            with pytest.raises(
                BrokerError, match=f"cannot connect to the Kafka broker at 127.0.0.1:{proxy_port} "
            ):
                await run_judge(settings)
            assert proxy.joined  # the consumer had started before the producer failed to
            for _ in range(50):  # the proxy hears the clients close their sockets
                if proxy.open == 0:
                    break
                await asyncio.sleep(0.1)
            assert proxy.open == 0
        finally:
            await proxy.stop()

    broker_port = other_free_port(proxy_port)
    with LocalBroker(broker_port, advertised_port=proxy_port, log_path=tmp_path / "broker.log"):
        asyncio.run(start_judge(JoinThenRefuseProxy(proxy_port, broker_port)))


def test_judge_frees_its_metrics_port_when_no_broker_answers(judge_url) -> None:
    """Making sure of the judge topic fails (nothing listens at the bootstrap address): the metrics
    server run_judge started before is closed, its port free again."""
    metrics_port = free_port()
    settings = judge_settings(
        f"127.0.0.1:{other_free_port(metrics_port)}", judge_url, judge_metrics_port=metrics_port
    )
    with pytest.raises(BrokerError, match="Connect call failed"):
        asyncio.run(run_judge(settings))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", metrics_port))  # EADDRINUSE while a server listens there


def test_judge_serves_its_metrics_on_the_host_it_is_told(broker, unique, judge_url) -> None:
    """MONITOR_JUDGE_METRICS_HOST, as the compose stack sets it so that Prometheus reaches the
    runner (job monitor-judge): the metrics answer there and not on 127.0.0.1 (before: always and
    only 127.0.0.1, so MonitorJudgeDown could not see a judge in another container)."""
    metrics_port = free_port()
    settings = judge_settings(
        broker.bootstrap,
        judge_url,
        app_id=f"t{unique}",
        judge_metrics_host="127.0.0.2",
        judge_metrics_port=metrics_port,
    )

    def scrape(host: str) -> str:
        with urllib.request.urlopen(f"http://{host}:{metrics_port}/metrics", timeout=2) as answer:
            return str(answer.read().decode())

    async def run() -> tuple[str, bool]:
        stop = asyncio.Event()
        runner = asyncio.create_task(run_judge(settings, stop=stop))
        try:
            for _ in range(100):
                try:
                    text = await asyncio.to_thread(scrape, "127.0.0.2")
                    break
                except OSError:
                    assert not runner.done(), runner.exception()
                    await asyncio.sleep(0.2)
            else:
                raise AssertionError("no metrics on 127.0.0.2")
            try:
                await asyncio.to_thread(scrape, "127.0.0.1")
                on_default = True
            except OSError:
                on_default = False
        finally:
            stop.set()
            await runner
        return text, on_default

    text, on_default = asyncio.run(run())
    assert "monitor_judge_calls_total" in text and not on_default


def test_judge_exits_2_with_one_line_when_its_endpoint_is_unreachable(broker, unique) -> None:
    """Nothing listens at MONITOR_JUDGE_URL (the broker is up): ``monitor judge`` stops at
    start-up with exit code 2 and one error line naming the masked URL and the cause (before: it
    ran on, and every grade would have failed)."""
    (judge_port,) = closed_ports(1)
    env = {
        **os.environ,
        "MONITOR_KAFKA_BOOTSTRAP": broker.bootstrap,
        "MONITOR_APP_ID": f"t{unique}",
        "MONITOR_JUDGE_URL": f"http://judge:pw-e2e-secret@127.0.0.1:{judge_port}/v1",
        "MONITOR_JUDGE_MODEL": "judge-1",
    }
    error, output = judge_start_error(env)
    assert error.startswith(
        f"error: judge endpoint http://judge:***@127.0.0.1:{judge_port}/v1/chat/completions "
        "is unreachable: ClientConnectorError: "
    )
    assert "pw-e2e-secret" not in output


def test_judge_checks_its_endpoint_before_kafka_and_frees_the_metrics_port() -> None:
    """Neither the judge endpoint nor a broker answers: run_judge fails on the endpoint (checked
    before the Kafka clients, so an unreachable judge never joins the consumer group), with the
    masked URL and without the key, and the metrics server it had started is closed."""
    bootstrap_port, metrics_port, judge_port = closed_ports(3)
    settings = judge_settings(
        f"127.0.0.1:{bootstrap_port}",
        f"http://127.0.0.1:{judge_port}/v1",
        judge_api_key="sk-e2e-secret",
        judge_metrics_port=metrics_port,
    )
    started = time.monotonic()
    with pytest.raises(JudgeUnreachable) as error:
        asyncio.run(run_judge(settings))
    assert time.monotonic() - started < 5
    assert str(error.value).startswith(
        f"judge endpoint http://127.0.0.1:{judge_port}/v1/chat/completions is unreachable: "
    )
    assert "sk-e2e-secret" not in str(error.value)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", metrics_port))  # EADDRINUSE while a server listens there


def test_judge_grades_with_the_key_in_the_header_it_is_told(broker, unique, tmp_path) -> None:
    """An endpoint that takes the key only as ``api-key: <key>`` (Azure OpenAI): with
    MONITOR_JUDGE_API_KEY_HEADER=api-key, ``monitor judge`` starts, grades a backlog answer and
    publishes the grade; no bearer token is sent and the key is not logged (before: the key always
    went as ``Authorization: Bearer`` and every call was refused, http_401)."""
    key = "sk-azure-e2e-secret"
    judge = ScriptedJudge(required_headers={"api-key": key})
    publish_backlog(
        broker.bootstrap, f"t{unique}.judge", f"t{unique}.feedback", [[answer_record("r1", "GOOD")]]
    )
    with ThreadedJudge(judge), open(tmp_path / "judge.log", "wb") as log:
        env = runner_env(
            broker.bootstrap,
            unique,
            judge.url,
            MONITOR_JUDGE_API_KEY=key,
            MONITOR_JUDGE_API_KEY_HEADER="api-key",
        )
        runner = subprocess.Popen(
            [sys.executable, "-m", "monitor", "judge"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            published = read_topic(broker.bootstrap, f"t{unique}.feedback", expected=1, timeout=30)
            assert runner.poll() is None
        finally:
            stop_cleanly(runner)
    grades = [event["attributes"] for message in published for event in message]
    assert [(g["gen_ai.response.id"], g["gen_ai.evaluation.score.value"]) for g in grades] == [
        ("r1", 9.0)
    ]
    assert [(method, status) for method, _, status in judge.requests] == [
        ("HEAD", 405),
        ("POST", 200),
    ]
    assert all("Authorization" not in headers for headers in judge.headers)
    assert key not in (tmp_path / "judge.log").read_text()


def test_a_key_refused_on_a_call_stops_the_judge_there_and_skips_nothing(
    broker, unique, tmp_path
) -> None:
    """An endpoint that checks keys only on completions (its HEAD answers 405) refuses the first
    call with 401 (a revoked key): ``monitor judge`` exits 2 with one line naming the message it
    stopped at, and started again with a key the endpoint takes it grades every answer, the first
    one included (before: each call failed with http_401 and its message was committed, so those
    answers were never graded)."""
    requests = ["r1", "r2", "r3"]
    publish_backlog(
        broker.bootstrap,
        f"t{unique}.judge",
        f"t{unique}.feedback",
        [[answer_record(rid, f"GOOD answer to {rid}")] for rid in requests],
    )
    judge = ScriptedJudge(fail=["401"])
    with ThreadedJudge(judge):
        env = runner_env(
            broker.bootstrap, unique, judge.url, MONITOR_JUDGE_API_KEY="sk-revoked-e2e-secret"
        )
        error, output = judge_start_error(env)
        assert "refused the key (HTTP 401, sent in the Authorization header)" in error
        assert f"stopped at t{unique}.judge/0 offset 0," in error
        assert "sk-revoked-e2e-secret" not in output
        with open(tmp_path / "judge.log", "wb") as log:
            runner = subprocess.Popen(
                [sys.executable, "-m", "monitor", "judge"], env=env, stdout=log, stderr=log
            )
            try:
                published = read_topic(
                    broker.bootstrap, f"t{unique}.feedback", expected=3, timeout=60
                )
            finally:
                stop_cleanly(runner)
    graded = sorted(e["attributes"]["gen_ai.response.id"] for m in published for e in m)
    assert graded == requests
    assert [status for method, _, status in judge.requests if method == "POST"] == [
        401,
        200,
        200,
        200,
    ]


AZURE_KEY = "sk-azure-e2e-secret"


@pytest.mark.parametrize(
    ("settings", "refusal"),
    [
        (
            {"MONITOR_JUDGE_API_KEY": AZURE_KEY},
            "refused the key (HTTP 401, sent in the Authorization header)",
        ),
        (
            {
                "MONITOR_JUDGE_API_KEY": "sk-wrong-e2e-secret",
                "MONITOR_JUDGE_API_KEY_HEADER": "api-key",
            },
            "refused the key (HTTP 401, sent in the api-key header)",
        ),
        ({}, "refused the call (HTTP 401) and no key is set"),
    ],
)
def test_judge_exits_2_with_one_line_when_its_endpoint_refuses_the_key(
    broker, unique, settings: dict[str, str], refusal: str
) -> None:
    """The endpoint takes only ``api-key: <its key>`` and answers anything else 401 (HEAD
    included): the right key in the wrong header, a wrong key, or no key stops ``monitor judge`` at
    start with exit code 2 and one error line naming the masked URL, the status and what to set,
    with no completion asked for (before: it started, and every grade failed with http_401)."""
    judge = ScriptedJudge(required_headers={"api-key": AZURE_KEY})
    with ThreadedJudge(judge):
        url = f"{judge.url}?api-version=2024-06-01&sig=sig-e2e-secret"
        env = runner_env(broker.bootstrap, unique, url, **settings)
        if "MONITOR_JUDGE_API_KEY" not in settings:
            env.pop("MONITOR_JUDGE_API_KEY", None)
        error, output = judge_start_error(env)
    assert error == (
        f"error: judge endpoint http://127.0.0.1:{judge.port}/v1/chat/completions"
        f"?api-version=2024-06-01&sig=*** {refusal}: set MONITOR_JUDGE_API_KEY "
        "(and MONITOR_JUDGE_API_KEY_HEADER=api-key for Azure OpenAI)"
    )
    assert "e2e-secret" not in output
    assert judge.requests == [("HEAD", "/v1/chat/completions", 401)] and judge.calls == []


def judge_messages_on(bootstrap: str, topic: str, answers: int, timeout: float) -> list[bytes]:
    """The raw messages of ``topic`` once they hold ``answers`` answer records (or at the timeout)."""

    async def consume() -> list[bytes]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        messages: list[bytes] = []
        held = 0
        try:
            deadline = time.monotonic() + timeout
            while held < answers and time.monotonic() < deadline:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    messages += [m.value for m in batch]
                    held += sum(len(json.loads(m.value)) for m in batch)
        finally:
            await consumer.stop()
        return messages

    return asyncio.run(consume())


def test_a_backlog_reaches_the_judge_topic_in_messages_a_broker_takes(
    deployment, start_worker
) -> None:
    # 3,000 answers of 2 KB wait when the worker starts, as after an outage: its first batches
    # hold megabytes of texts. Their judge message (3.6 MB) was refused by the worker's own
    # producer (MessageSizeTooLargeError, "judge records not forwarded"): nothing got judged.
    now = time.time()
    answers = [
        inference(
            f"b{i}",
            now - 30 + i * 0.01,
            input_text="Where is my parcel?",
            output_text=f"{i} " + "x" * 2000,
        )
        for i in range(3000)
    ]
    publish(deployment, "inference", answers)
    worker = start_worker(
        MONITOR_JUDGE_URL="http://127.0.0.1:9/v1",  # the worker forwards; no runner here
        MONITOR_JUDGE_MODEL="judge-1",
        MONITOR_JUDGE_SAMPLE_RATE="1.0",
    )
    judge_topic = f"{deployment.prefix}-app.judge"
    messages = judge_messages_on(deployment.broker.bootstrap, judge_topic, 3000, timeout=90)
    forwarded = [r["request_id"] for m in messages for r in json.loads(m)]
    assert sorted(forwarded) == sorted(a["request_id"] for a in answers)
    assert len(messages) > 1 and max(map(len, messages)) <= JUDGE_MESSAGE_BYTES
    assert "not forwarded" not in worker.log_path.read_text()


def test_the_report_is_there_from_the_start_and_one_it_cannot_write_stops_it_at_once(
    broker, unique, tmp_path, judge_url
) -> None:
    # before: `monitor judge --report judge-report.json` wrote nothing until it had judged a batch
    # (no such file meanwhile), and a report in a missing directory crashed the runner with a
    # traceback only then, after that batch's commit
    report = tmp_path / "judge-report.json"
    env = runner_env(broker.bootstrap, unique, judge_url)
    runner = subprocess.Popen(
        [sys.executable, "-m", "monitor", "judge", "--report", str(report)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(report.exists, 45, "the report, before any judge message")
        assert json.loads(report.read_text()) == {"pairs": [], "agreement": [], "tokens_today": 0}
    finally:
        stop_cleanly(runner)
    missing = tmp_path / "no-such-dir" / "judge-report.json"
    done = monitor_cli("judge", "--report", str(missing), env=env, check=False, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"error: --report {missing}: cannot be written (No such file or directory)"
    )
    assert "Traceback" not in done.stderr
