"""Shadow candidates through the real broker: agreement, verdicts, and production figures left untouched."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import numpy as np
from deploy_names import SHADOW_PANELS, clickhouse_panels
from tests_support import inference, reader_for, running_ui, wait_until

from monitor.adapters.judge_journal import RedisStatsJournal
from monitor.adapters.producer import EventProducer
from monitor.drift.embeddings import sampled
from monitor.judge.pairwise import pair_verdict
from monitor.settings import Settings

N = 1000  # production requests of model m, each mirrored to two shadow versions
WINDOWS = (
    "SELECT toFloat64(window_start), model_version, metric, segment, value, count, numerator "
    "FROM monitor.metric_windows FINAL WHERE model = {model:String} ORDER BY 1, 2, 3, 4"
)


def _stream(rng: np.random.Generator, start: float) -> tuple[list[dict], list[dict]]:
    """Model m with shadows v3 (agrees on 90 %) and v4 (fails 20 %); model copy: the same production, no shadow."""
    inferences, feedback = [], []
    for i in range(N):
        t = start + float(rng.uniform(0, 240))
        latency = float(rng.normal(300, 30))
        for model, prefix in (("m", "r"), ("copy", "c")):
            inferences.append(
                inference(
                    f"{prefix}{i}",
                    t,
                    model=model,
                    version="v2",
                    latency_ms=latency,
                    output_text=f"Answer number {i}: your refund is on its way.",
                )
            )
            feedback.append(
                {"request_id": f"{prefix}{i}", "timestamp": t + 2, "task_completed": i % 3 != 0}
            )
        agrees = i % 10 != 0
        inferences.append(
            inference(
                f"r{i}",
                t + 0.05,
                model="m",
                version="v3",
                deployment="shadow",
                latency_ms=latency + float(rng.normal(10, 20)),
                output_text=f"answer number {i}:  your refund is on its way."
                if agrees
                else f"Sorry, I cannot help with request {i}.",
            )
        )
        failed = i % 5 == 0
        inferences.append(
            inference(
                f"r{i}",
                t + 0.08,
                model="m",
                version="v4",
                deployment="shadow",
                latency_ms=latency,
                error="timeout" if failed else None,
                output_text=None if failed else f"Answer number {i}: your refund is on its way.",
            )
        )
    order = rng.permutation(
        len(inferences)
    )  # a shadow answer comes before its production answer about half the time
    return [inferences[j] for j in order], feedback


def _publish(bootstrap: str, topics: dict[str, str]) -> None:
    inferences, feedback = _stream(np.random.default_rng(11), time.time() - 400)

    async def send() -> None:
        async with EventProducer(bootstrap, topics=topics, batch_size=250) as producer:
            await producer.send("inference", inferences)
            await producer.send("feedback", feedback)

    asyncio.run(send())


def _report(
    env: dict[str, str], fmt: str = "json", model: str = "m"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "shadow", "report", "--model", model, "--format", fmt],
        check=False,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _experiments_page(env: dict[str, str]) -> str:
    """The dashboard's experiments page, served by ``monitor ui`` with ``env`` (on any free port)."""
    with running_ui(env) as ui:
        listening = re.search(r"http://127\.0\.0\.1:(\d+)/", ui.line)
        assert listening, ui.line
        url = f"http://127.0.0.1:{listening[1]}/experiments?model=m"
        with urllib.request.urlopen(url, timeout=60) as page:
            return page.read().decode()


def _in_sample(request_id: str) -> bool:
    return bool(sampled([request_id], 0.25)[0])


def _complete(env: dict[str, str]) -> dict[str, dict] | None:
    done = _report(env)
    if done.returncode != 0:
        return None
    rows = {r["shadow_version"]: r for r in json.loads(done.stdout)}
    return rows if {v: r["pairs"] for v, r in rows.items()} == {"v3": N, "v4": N} else None


def test_shadow_candidates_are_compared_and_leave_production_unchanged(
    deployment, start_worker, redis_url
):
    worker = start_worker(MONITOR_REDIS_URL=redis_url)  # its web port shows the judge's verdicts
    env = {**deployment.env(), "MONITOR_WEB_PORT": str(worker.web_port)}
    _publish(deployment.broker.bootstrap, deployment.topics)

    holder: dict[str, dict] = {}
    wait_until(
        lambda: holder.update(_complete(env) or {}) or len(holder) == 2,
        timeout=150,
        what="every shadow answer paired",
    )
    v3, v4 = holder["v3"], holder["v4"]
    assert abs(v3["agreement"] - 0.90) <= 0.01 and v3["production_version"] == "v2"
    assert 0.9 <= v3["similarity"] < 1.0 and abs(v3["latency_delta_ms"] - 10) < 5
    assert v3["shadow_error_rate"] == 0 and v3["verdict"] == "promising", v3
    assert v4["shadow_error_rate"] == 0.2 and v4["verdict"] == "not_promising", v4
    assert v4["agreement"] == 1.0 and "error_rate" in v4["reason"]
    # semantic similarity (default embedder, a quarter of the requests, both sides or neither):
    # v4 answers the same text, v3 differs in meaning on a tenth of the pairs
    semantic = {v: next(d for d in r["metrics"] if d["metric"] == "semantic_similarity")
                for v, r in holder.items()}  # fmt: skip
    assert 0.15 * N < semantic["v3"]["n"] < 0.35 * N, semantic
    assert semantic["v4"]["n"] == semantic["v3"]["n"] - sum(
        1 for i in range(N) if i % 5 == 0 and _in_sample(f"r{i}")
    ), semantic
    assert 0.9 < v4["semantic_similarity"] < 1.1 and v3["semantic_similarity"] < 0.97, semantic
    assert v3["semantic_similarity"] < v4["semantic_similarity"] - 0.03, semantic
    latency = next(d for d in v3["metrics"] if d["metric"] == "latency_ms")
    assert latency["ci_low"] < 10 < latency["ci_high"] and latency["status"] == "within"
    assert v3["judge_pairs"] is None  # no judge has compared them (no MONITOR_REDIS_URL in env)

    # The LLM judge's verdicts of v3 against v2 (what `monitor judge` keeps in Redis) join the
    # report of the same versions; v4, never judged, has none.
    judge_env = {**env, "MONITOR_REDIS_URL": redis_url}
    journal = RedisStatsJournal(
        redis_url, Settings(app_id=env["MONITOR_APP_ID"]).redis_prefix("judge:stats")
    )
    for i in range(40):  # the shadow preferred in 3 of 4 pairs, and no order flip
        journal.add_pair(
            ("m", "v2", "v3"), pair_verdict("B", "A") if i % 4 else pair_verdict("A", "B"), 0.0, 1.0
        )
    journal.close()
    judged = {r["shadow_version"]: r for r in json.loads(_report(judge_env).stdout)}
    assert (judged["v3"]["judge_pairs"], judged["v3"]["judge_win_rate"]) == (40, 0.75)
    assert judged["v3"]["judge_flip_rate"] == 0.0 and judged["v4"]["judge_pairs"] is None
    table = _report(judge_env, fmt="table").stdout
    assert "LLM judge: shadow preferred in 75% of 40 pairs" in table
    gone = _report({**env, "MONITOR_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert gone.returncode == 0 and "the judge's verdicts are not shown" in gone.stderr
    # the dashboard's shadow comparisons say the same under the versions the judge compared, on
    # `monitor ui` and on the worker's own web port
    with urllib.request.urlopen(f"{worker.url}/experiments?model=m", timeout=60) as served:
        worker_page = served.read().decode()
    for page in (_experiments_page(judge_env), worker_page):
        judge_list = page[page.index('<ul class="judge" id="judge">') :].split("</ul>")[0]
        assert re.findall(r"<li>(.*?)</li>", judge_list) == [
            (
                "m v2 → v3: LLM judge: shadow preferred in 75% of 40 pairs "
                "(length-controlled 75%, order flips 0%)"
            )
        ], judge_list
    unanswered = _experiments_page({**env, "MONITOR_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert 'id="shadow"' in unanswered and 'id="judge"' not in unanswered
    assert "the LLM judge's verdicts are not shown" in unanswered, unanswered[-2000:]

    # The same production events with and without shadow traffic give the same metric windows.
    reader = reader_for(worker)

    def windows(
        model: str,
    ) -> list[tuple]:  # sums of floats differ in the last bits with the batching
        return [
            tuple(round(v, 6) if isinstance(v, float) else v for v in r)
            for r in reader.query(WINDOWS, {"model": model}).rows
        ]

    def totals(
        model: str,
    ) -> dict[str, float]:  # feedback carries no model: its outcomes count per model
        out: dict[str, float] = {}
        for row in windows(model):
            if row[2] in ("inference_events", "task_completion"):
                out[row[2]] = out.get(row[2], 0.0) + row[5]
        return out

    def settled() -> bool:
        return totals("m") == totals("copy") == {"inference_events": N, "task_completion": N}

    wait_until(settled, timeout=60, what="metric windows of both models")
    wait_until(lambda: windows("m") == windows("copy"), timeout=30, what="equal metric windows")
    assert {r[1] for r in windows("m")} == {"v2"}  # no window of the shadow versions
    expected = [("v3", "promising", N), ("v4", "not_promising", N)]
    wait_until(
        lambda: (
            [
                tuple(r)
                for r in reader.query(
                    "SELECT shadow_version, verdict, pairs FROM monitor.shadow_results FINAL WHERE model = 'm' AND metric = '' "
                    "ORDER BY 1"
                ).rows
            ]
            == expected
        ),
        timeout=30,
        what="shadow_results rows of both candidates",
    )
    # the Grafana shadow panel, default variables, shows this run: one row per candidate, as the report
    [(panel, sql)] = clickhouse_panels(only=SHADOW_PANELS)
    shown = {r[2]: r for r in reader.query(sql).rows if r[0] == "m"}
    assert set(shown) == {"v3", "v4"}, f"Grafana {panel} after a real run: {sql}"
    for version, report in holder.items():
        production, verdict, pairs, agreement, similarity, semantic, latency_delta = (
            shown[version][1:2] + shown[version][3:9]
        )
        assert (production, verdict, pairs) == (report["production_version"], report["verdict"], N)
        assert (
            abs(agreement - report["agreement"]) < 1e-9
            and abs(latency_delta - report["latency_delta_ms"]) < 1e-9
        )
        assert abs(similarity - report["similarity"]) < 1e-9
        assert abs(semantic - report["semantic_similarity"]) < 1e-9
    table = _report(env, "table").stdout
    assert "promising" in table and "agreement" in table
    csv = _report(env, "csv").stdout.splitlines()
    assert (
        csv[0].startswith("model,production_version,shadow_version,pairs,agreement")
        and len(csv) == 3
    )
    unknown = _report(env, model="nope")
    assert unknown.returncode == 2 and "models with shadow traffic: m" in unknown.stderr
