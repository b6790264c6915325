"""Prompt-embedding drift end to end: prompts shift from billing questions to login problems (same
length, same language); the real embedder, broker, worker and embedded store flag the shifted
windows, name the grown topic, and raise no embedding or topic alert before the shift."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import orjson
from deploy_names import EMBEDDING_PANELS, clickhouse_panels
from tests_support import build_baseline, monitor_cli, reader_for, wait_until

from monitor.adapters.producer import EventProducer

WINDOW = 60
QUERY = (
    "SELECT toFloat64(window_start), feature, severity, detail, n_current FROM "
    "monitor.drift_windows FINAL WHERE feature IN ('prompt_embedding', 'prompt_topic') "
    "ORDER BY window_start, feature"
)
N_WINDOWS = 8
SHIFT = 4  # windows from here on are mostly login problems
PER_WINDOW = 250
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
BILLING = (
    "Why was my card charged twice for the {plan} plan this {period}?",
    "Can I get a refund for invoice {n} on my {plan} subscription?",
    "My {period} bill shows the wrong amount for the {plan} plan.",
    "Please send a copy of invoice {n} with the tax for the {plan} plan.",
)
LOGIN = (
    "Why can I not log in to my account on my {device} this {period}?",
    "How do I reset my password on the {device} after {n} failed tries?",
    "The sign in code never arrives on my {device} when I log in.",
    "My account is locked after {n} wrong passwords on the {device}.",
)
SLOTS = {
    "plan": ("basic", "premium", "family", "business"),
    "period": ("month", "week", "year", "quarter"),
    "device": ("phone", "laptop", "tablet", "browser"),
}


def prompt(rng: np.random.Generator, login_share: float) -> str:
    templates = LOGIN if rng.random() < login_share else BILLING
    template = templates[rng.integers(len(templates))]
    return template.format(
        n=int(rng.integers(100, 999)), **{k: v[rng.integers(len(v))] for k, v in SLOTS.items()}
    )


def build_reference(tmp_path, deployment) -> str:
    rng = np.random.default_rng(3)
    done = build_baseline(
        tmp_path / "reference.jsonl",
        ({"features": {"channel": "web"}, "input_text": prompt(rng, 0.2)} for _ in range(800)),
        {**deployment.env(), **OFFLINE},
        "--id",
        "ref-emb",
    )
    assert "prompt topics (wordllama:l2_supercat_256)" in done.stdout, done.stdout
    return done.stdout


def publish(deployment, windows: range = range(N_WINDOWS), start: float | None = None) -> float:
    rng = np.random.default_rng(5 + windows.start)
    if start is None:
        start = float((int(time.time()) // WINDOW - N_WINDOWS - 1) * WINDOW)
    events = [
        {
            "request_id": f"r{w}-{i}",
            "timestamp": start + w * WINDOW + i * WINDOW / PER_WINDOW,
            "model": "m",
            "model_version": "v1",
            "features": {"channel": "web"},
            "input_text": prompt(rng, 0.85 if w >= SHIFT else 0.2),
        }
        for w in windows
        for i in range(PER_WINDOW)
    ]

    async def send() -> None:
        async with EventProducer(
            deployment.broker.bootstrap, topics=deployment.topics, batch_size=100
        ) as producer:
            await producer.send("inference", events)

    asyncio.run(send())
    return start


def test_topic_shift_flags_embedding_drift_and_the_grown_cluster(
    deployment, start_worker, tmp_path
):
    build_reference(tmp_path, deployment)
    worker = start_worker(
        MONITOR_ALLOWED_LATENESS="0s",
        MONITOR_EMBEDDING_SAMPLE_RATE="1",
        MONITOR_DRIFT_MIN_SAMPLES="100",
        **OFFLINE,
    )
    start = publish(deployment)
    reader = reader_for(worker)
    closed = 2 * (N_WINDOWS - 1)  # the newest window stays open
    # a window closes once either partition passed it; its rows are rewritten when the other
    # partition's partials land: wait until every closed window holds all of its prompts
    wait_until(
        lambda: [n for *_, n in reader.query(QUERY).rows] == [PER_WINDOW] * closed,
        timeout=90,
        what="embedding rows of every closed window, whole",
    )
    rows = {(int((w - start) // WINDOW), f): (sev, detail, n) for w, f, sev, detail, n in
            reader.query(QUERY).rows}  # fmt: skip
    for w in range(N_WINDOWS - 1):
        embedding, topic = rows[(w, "prompt_embedding")], rows[(w, "prompt_topic")]
        assert embedding[2] == PER_WINDOW and topic[2] == PER_WINDOW, (w, embedding, topic)
        if w < SHIFT:
            assert embedding[0] != "significant" and topic[0] != "significant", (w, rows)
        else:
            assert embedding[0] == "significant" and topic[0] == "significant", (w, rows)
            assert "grew from" in topic[1], topic
            grown = topic[1].split("'")[1]
            assert {"log", "login", "password", "passwords", "account", "locked", "sign"} & set(
                grown.replace(",", " ").split()
            ), topic[1]
    alerts_query = (
        "SELECT rule, toFloat64(starts_at), summary, description FROM monitor.alerts FINAL "
        "WHERE status = 'firing'"
    )
    # one incident per model version: the first rule that fires names it, the others add evidence
    wait_until(lambda: reader.query(alerts_query).rows, timeout=60, what="the topic alert")
    alerts = reader.query(alerts_query).rows
    assert all(starts >= start + SHIFT * WINDOW for _, starts, _, _ in alerts), alerts
    rule, _, summary, description = alerts[0]
    assert rule in ("prompt_topics_shifted", "prompt_embedding_drift"), alerts
    assert "grew from" in summary and "What moved: prompt_topic: topic '" in description, alerts
    assert "prompt_embedding: MMD²" in description, description
    # the leader's gauges hold the last scored window (shifted): 2 = significant, once a refresh
    # after that window's scoring exported them (a loaded machine can be a refresh behind)
    for feature in ("prompt_topic", "prompt_embedding"):
        wait_until(
            lambda f=feature: worker.metric("monitor_drift_severity", {"feature": f}) == 2,
            timeout=30,
            what=f"the {feature} severity gauge at significant",
        )
    # the Grafana panel of prompt topics shows this run, with its default variables
    for panel, sql in clickhouse_panels(only=EMBEDDING_PANELS):
        assert any("grew from" in str(r) for r in reader.query(sql).rows), (panel, sql)
    # the CLI shows what moved
    done = monitor_cli(
        "query", "drift", "--feature", "prompt_topic", "--format", "json",
        env={**deployment.env(), "MONITOR_WEB_PORT": str(worker.web_port)},
    )  # fmt: skip
    assert "grew from" in done.stdout, done.stdout


def test_an_automatic_baseline_keeps_topics_and_two_workers_score_the_shift(
    deployment, start_worker
):
    """No baseline file: the workers sample the first prompts (reduced embeddings and keywords,
    no text), the leader builds the baseline with its topics, and later windows are scored from
    the sums both workers folded (each window's n is all of its prompts)."""
    settings = {
        "MONITOR_ALLOWED_LATENESS": "0s",
        "MONITOR_EMBEDDING_SAMPLE_RATE": "1",
        "MONITOR_DRIFT_MIN_SAMPLES": "100",
        "MONITOR_BASELINE_SAMPLES": str(2 * PER_WINDOW),
        **OFFLINE,
    }
    worker, other = start_worker(**settings), start_worker(**settings)
    wait_until(
        lambda: worker.log_path.read_bytes().count(b"Setting newly assigned partitions") >= 2,
        timeout=60,
        what="the two workers to share the partitions",
    )
    reader = reader_for(worker)
    start = publish(deployment, range(2))  # the baseline's prompts
    baselines = "SELECT body FROM monitor.baselines FINAL WHERE model = 'm'"
    wait_until(lambda: reader.query(baselines).rows, timeout=60, what="the automatic baseline")
    body = orjson.loads(reader.query(baselines).rows[0][0])
    assert len(body["embedding"]["topic_names"]) == 8 and "prompt_topic" in body["features"]
    wait_until(  # the samples are deleted once the baseline is built
        lambda: reader.query("SELECT count() FROM monitor.baseline_samples").rows[0][0] == 0,
        timeout=30,
        what="the baseline samples to be deleted",
    )
    publish(deployment, range(2, N_WINDOWS), start)
    wait_until(
        lambda: sum(r[1] == "prompt_topic" and r[0] >= start + 2 * WINDOW
                    for r in reader.query(QUERY).rows) == N_WINDOWS - 3,
        timeout=90, what="the topic rows after the baseline",
    )  # fmt: skip
    # a window closes once either partition passed it; its rows are rewritten when the other
    # worker's partials land: wait until every window holds all of its prompts
    wait_until(
        lambda: (
            {n for w, _, _, _, n in reader.query(QUERY).rows if w >= start + 2 * WINDOW}
            == {PER_WINDOW}
        ),
        timeout=60,
        what="both workers' sums in every window",
    )
    assert worker.metric("monitor_events_total") > 0 and other.metric("monitor_events_total") > 0
    rows = reader.query(QUERY).rows
    severity = {(int((w - start) // WINDOW), f): sev for w, f, sev, _, _ in rows}
    for w in range(2, N_WINDOWS - 1):
        found = (severity[(w, "prompt_topic")], severity[(w, "prompt_embedding")])
        if w >= SHIFT:
            assert found == ("significant", "significant"), (w, severity)
        else:
            assert "significant" not in found, (w, severity)


def test_a_killed_worker_counts_every_prompt_embedding_once(deployment, start_worker, tmp_path):
    """kill -9 after the batches are written but before their offsets are committed: the next
    worker reads every message again and skips it (the store holds its offsets), so each window's
    embedding sums hold each sampled prompt exactly once, as the unkilled run's do."""
    build_reference(tmp_path, deployment)
    settings = {
        "MONITOR_ALLOWED_LATENESS": "0s",
        "MONITOR_EMBEDDING_SAMPLE_RATE": "1",
        "MONITOR_DRIFT_MIN_SAMPLES": "100",
        "MONITOR_BATCH_SIZE": "3",  # several batches
        "MONITOR_COMMIT_INTERVAL": "600",  # no offset commit before the kill
        **OFFLINE,
    }
    first = start_worker(**settings)
    total = N_WINDOWS * PER_WINDOW
    start = publish(deployment)
    wait_until(
        lambda: first.metric("monitor_events_total", {"kind": "inference"}) == total,
        timeout=90,
        what="every prompt written",
    )
    first.kill()
    second = start_worker(**settings)
    wait_until(
        lambda: second.metric("monitor_replayed_messages_skipped_total") >= total / 100,
        timeout=90,
        what="the uncommitted messages read again and skipped",
    )
    assert second.metric("monitor_events_total", {"kind": "inference"}) == 0
    reader = reader_for(second)
    counts = (
        "SELECT toFloat64(window_start), sum(count) FROM monitor.partials "
        "WHERE name = 'emb:sq' GROUP BY window_start ORDER BY window_start"
    )
    assert [(int((w - start) // WINDOW), n) for w, n in reader.query(counts).rows] == [
        (w, float(PER_WINDOW)) for w in range(N_WINDOWS)
    ]
    closed = 2 * (N_WINDOWS - 1)
    wait_until(lambda: len(reader.query(QUERY).rows) == closed, timeout=90, what="embedding rows")
    # the killed worker may have scored a window before the other partition's partials landed:
    # its row is rewritten once they have (by the next worker); twice-counted prompts would never
    # give PER_WINDOW
    wait_until(
        lambda: {n for *_, n in reader.query(QUERY).rows} == {PER_WINDOW},
        timeout=60,
        what="every window's rows over all of its prompts",
    )
