"""A/B experiments through the real broker: a known lift ships, a harmed guardrail stops, A/A continues."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import numpy as np
from deploy_names import EXPERIMENT_PANELS, clickhouse_panels
from tests_support import inference, reader_for, wait_until

from monitor.adapters.producer import EventProducer

ARM = 1500  # requests per variant and experiment
EXPERIMENTS = """
experiments:
  - name: lift
    model: m
    control: control
    treatment: treatment
    primary_metric: task_completion
    minimum_detectable_effect: 0.05
    metrics: [kpi.revenue]
    covariate: prior_tasks
"""


def _stream(rng: np.random.Generator, start: float) -> tuple[list[dict], list[dict]]:
    """Three experiments: lift (+12 points of task completion), harm (takeover 10 % -> 25 %), aa."""
    rates = {
        "lift": ((0.50, 0.10), (0.62, 0.10)),
        "harm": ((0.50, 0.10), (0.50, 0.25)),
        "aa": ((0.50, 0.10), (0.50, 0.10)),
    }
    inferences, feedback = [], []
    for name, arms in rates.items():
        for variant, (completion, takeover) in zip(("control", "treatment"), arms):
            for i in range(ARM):
                rid = f"{name}-{variant}-{i}"
                t = start + float(rng.uniform(0, 300))
                prior = int(
                    rng.integers(0, 3)
                )  # known before assignment; completion rises with it (CUPED)
                inferences.append(
                    inference(
                        rid,
                        t,
                        latency_ms=float(rng.normal(500, 50)),
                        experiment=name,
                        variant=variant,
                        segment={"region": ("eu", "us")[i % 2]},
                        features={"prior_tasks": prior},
                    )
                )
                done = bool(rng.random() < completion - 0.2 + 0.2 * prior)
                feedback.append(
                    {
                        "request_id": rid,
                        "timestamp": t + 1,
                        "task_completed": done,
                        "human_takeover": bool(rng.random() < takeover),
                        "bad_case": False,
                        "kpi": {"revenue": 10.0 * done},
                    }
                )
    order = rng.permutation(len(inferences))
    return [inferences[i] for i in order], [feedback[i] for i in order]


def _publish(bootstrap: str, topics: dict[str, str]) -> int:
    inferences, feedback = _stream(np.random.default_rng(7), time.time() - 400)

    async def send() -> None:
        async with EventProducer(bootstrap, topics=topics, batch_size=200) as producer:
            await producer.send("inference", inferences)
            await producer.send("feedback", feedback)

    asyncio.run(send())
    return len(feedback)


def _report(env: dict[str, str], name: str, fmt: str = "json") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "experiment",
            "report",
            "--experiment",
            name,
            "--format",
            fmt,
        ],
        check=False,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _complete(env: dict[str, str], name: str) -> list[dict] | None:
    done = _report(env, name)
    if done.returncode != 0:
        return None
    rows = json.loads(done.stdout)
    primary = next((r for r in rows if r.get("primary")), None)
    if primary is None or primary["n_control"] + primary["n_treatment"] < 2 * ARM:
        return None
    return rows


def test_lift_ships_harmed_guardrail_stops_and_a_a_continues(deployment, start_worker, tmp_path):
    declared = tmp_path / "experiments.yaml"
    declared.write_text(EXPERIMENTS)
    worker = start_worker(
        MONITOR_EXPERIMENTS=str(declared),
        MONITOR_SEGMENT_KEYS='["region"]',
        MONITOR_RUNBOOK_BASE_URL="https://docs.example/monitor",
    )
    env = {
        **deployment.env(),
        "MONITOR_WEB_PORT": str(worker.web_port),
        "MONITOR_EXPERIMENTS": str(declared),
    }
    _publish(deployment.broker.bootstrap, deployment.topics)

    reports: dict[str, list[dict]] = {}
    for name in ("lift", "harm", "aa"):
        wait_until(
            lambda n=name: (reports.__setitem__(n, _complete(env, n)) or reports[n]) is not None,
            timeout=120,
            what=f"every feedback of experiment {name}",
        )
    decisions = {name: rows[-1]["decision"] for name, rows in reports.items()}
    assert decisions == {"lift": "ship", "harm": "stop", "aa": "continue"}, {
        n: r[-1] for n, r in reports.items()
    }

    lift = {(r["metric"], r["segment"]): r for r in reports["lift"][:-1]}
    primary = lift[("task_completion", "")]
    assert primary["n_control"] == primary["n_treatment"] == ARM
    assert primary["ci_low"] < 0.12 < primary["ci_high"] and primary["significant"]
    assert lift[("kpi.revenue", "")]["diff"] > 0 and ("task_completion", "region=eu") in lift
    assert {("human_takeover", ""), ("bad_case", ""), ("latency_ms", "")} <= set(lift)
    assert not reports["lift"][-1]["srm"] and reports["lift"][-1]["srm_p_value"] > 0.001
    assert (reports["lift"][-1]["models"], reports["lift"][-1]["model_versions"]) == (["m"], ["v1"])
    harm = {r["metric"]: r for r in reports["harm"][:-1] if r["segment"] == ""}
    assert harm["human_takeover"]["harmed"] and harm["human_takeover"]["guardrail"]
    assert reports["aa"][-1]["remaining_sample"] is None  # discovered: no minimum detectable effect
    table_report = _report(env, "aa", "table").stdout
    assert "continue" in table_report and "model m version v1" in table_report
    csv = _report(env, "lift", "csv").stdout.splitlines()
    assert csv[0].startswith("experiment,metric,segment") and len(csv) == len(reports["lift"]) + 1
    unknown = _report(env, "nope")
    assert unknown.returncode == 2 and "known: aa, harm, lift" in unknown.stderr

    # the declared covariate travelled through the join into the task_completion moments
    covariate = (
        reader_for(worker)
        .query(
            "SELECT sum(total) FROM monitor.partials WHERE name = 'exp:task_completion:xy' "
            "AND startsWith(bucket, 'lift\t') AND endsWith(bucket, '\t')"
        )
        .rows[0][0]
    )
    assert covariate and covariate > 0

    # the leader writes the same reports to experiment_results and exports them to Prometheus
    table = (
        "SELECT experiment, decision, n_control FROM monitor.experiment_results FINAL WHERE metric = '' "
        "ORDER BY experiment"
    )
    wait_until(
        lambda: (
            [r[1] for r in reader_for(worker).query(table).rows] == ["continue", "stop", "ship"]
        ),
        timeout=30,
        what="experiment_results",
    )
    primary_row = (
        reader_for(worker)
        .query(
            "SELECT p_value, ci_low FROM monitor.experiment_results FINAL WHERE experiment = 'lift' "
            "AND metric = 'task_completion' AND segment = ''"
        )
        .rows[0]
    )
    assert primary_row == (primary["p_value"], primary["ci_low"]) or list(primary_row) == [
        primary["p_value"],
        primary["ci_low"],
    ]
    assert (
        worker.metric("monitor_experiment_decision", {"experiment": "lift", "decision": "ship"})
        == 1.0
    )
    # the Grafana experiment panels, default variables, show this run
    panels = dict(clickhouse_panels(only=EXPERIMENT_PANELS))
    assert len(panels) == len(EXPERIMENT_PANELS)
    for (
        panel,
        sql,
    ) in panels.items():  # a report written this second is outside the time range until the next
        wait_until(
            lambda q=sql: reader_for(worker).query(q).rows,
            timeout=10,
            what=f"Grafana {panel}: {sql}",
        )
    decisions_panel = next(sql for panel, sql in panels.items() if "decisions" in panel)
    assert {(r[0], r[1]) for r in reader_for(worker).query(decisions_panel).rows} == {
        ("aa", "continue"),
        ("harm", "stop"),
        ("lift", "ship"),
    }
    # the model and version variables filter the experiment panels
    for variable in ("m", "v"):
        assert f"match({variable}, '^(.*)$')" in decisions_panel
        other = decisions_panel.replace(
            f"match({variable}, '^(.*)$')", f"match({variable}, '^(x)$')"
        )
        assert reader_for(worker).query(other).rows == []
    assert (
        worker.metric("monitor_experiment_assigned", {"experiment": "harm", "variant": "treatment"})
        == ARM
    )

    # decisions go through the alert pipeline with their recommended action
    alerts = (
        "SELECT rule, recommended_action, status, model, runbook_url FROM monitor.alerts "
        "WHERE startsWith(rule, 'experiment_') ORDER BY rule"
    )
    wait_until(
        lambda: len(reader_for(worker).query(alerts).rows) >= 2,
        timeout=30,
        what="experiment alerts",
    )
    runbook = "https://docs.example/monitor/docs/alerts.md#experiments"
    assert [tuple(r) for r in reader_for(worker).query(alerts).rows] == [
        ("experiment_ship", "ship_treatment", "firing", "m", runbook),
        ("experiment_stop", "stop_experiment", "firing", "m", runbook),
    ]
