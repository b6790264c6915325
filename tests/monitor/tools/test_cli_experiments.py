"""``monitor experiment report`` on a store whose experiment partials went through the worker's
path, with and without the declaration the workers run with."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.experiments.fold import ASSIGNED
from monitor.folding.partials import Partial
from monitor.tools.cli import app

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
N = 3000  # requests per arm
# per arm: task completion share, latency mean (sd 50 ms): +10 points of completion, +9 ms latency
ARMS = {"control": (0.60, 500.0), "treatment": (0.70, 509.0)}
DECLARED = """
experiments:
  - name: prompt-v3
    control: control
    treatment: treatment
    guardrails: [human_takeover, {metric: latency_ms, margin: 25}]
    covariate: prior_tasks
  - name: aa
    control: control
    treatment: treatment
    minimum_detectable_effect: 0.05
"""


@pytest.fixture(scope="module")
def store_env(chdb_dir: Path) -> Iterator[dict[str, str]]:
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=x_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    partials = []
    arms = [("prompt-v3", variant, N, *arm) for variant, arm in ARMS.items()]
    arms += [("aa", variant, 500, 0.6, 500.0) for variant in ("control", "treatment")]
    for experiment, variant, n, share, latency in arms:
        bucket = f"{experiment}\t{variant}\t"

        def part(name: str, total: float, bucket: str = bucket, n: int = n) -> Partial:
            return Partial(T0, 60, "assistant", "v1", name, bucket, float(n), total, T0 + 1)

        done = share * n
        partials += [
            part(ASSIGNED, float(n)),
            part("exp:task_completion:y", done),
            part("exp:task_completion:y2", done),
            part("exp:latency_ms:y", latency * n),
            part("exp:latency_ms:y2", n * (latency**2 + 50.0**2)),
        ]
        if experiment == "prompt-v3":  # a covariate: prior_tasks 0-3, 1.5 on average, one per arm
            x, x2, xy = 1.5 * n, 3.5 * n, 1.5 * done + 0.1 * n
            names = ("x", "x2", "xy")
            for metric in ("task_completion", "latency_ms"):
                partials += [part(f"exp:{metric}:{k}", v) for k, v in zip(names, (x, x2, xy))]
    store.write_batch({("inference", 0): (0, T0 + 1, partials)})
    yield {"MONITOR_CLICKHOUSE_URL": f"chdb://{chdb_dir}?database={store.db}"}
    store.command(f"DROP DATABASE IF EXISTS {store.db}")


def report(env: dict[str, str], experiment: str = "prompt-v3") -> tuple[str, str]:
    result = CliRunner().invoke(
        app, ["experiment", "report", "--experiment", experiment, "--format", "json"], env=env
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)[-1]["decision"], result.stderr


def test_a_report_without_the_workers_declaration_says_it_used_the_defaults(
    store_env: dict[str, str], tmp_path: Path
) -> None:
    # The workers declare a latency margin of 25 ms: the +9 ms is tolerated and they ship. The
    # same command in a shell without MONITOR_EXPERIMENTS judged latency at margin 0 and said
    # stop, silently: two decisions for one experiment, nothing saying why.
    declared = tmp_path / "experiments.yaml"
    declared.write_text(DECLARED)
    decision, note = report({**store_env, "MONITOR_EXPERIMENTS": str(declared)})
    assert (decision, note) == ("ship", "")

    decision, note = report({**store_env, "MONITOR_EXPERIMENTS": ""})
    assert decision == "stop"
    assert note.startswith(
        "note: experiment 'prompt-v3' is not declared in MONITOR_EXPERIMENTS (unset here): "
        "reported with the defaults of a discovered experiment (primary metric task_completion; "
        "guardrails human_takeover, bad_case, latency_ms at margin 0;"
    )
    assert "run this with the same file to see their decision" in note

    other = tmp_path / "other.yaml"
    other.write_text(DECLARED.replace("prompt-v3", "prompt-v4"))
    decision, note = report({**store_env, "MONITOR_EXPERIMENTS": str(other)})
    assert decision == "stop"
    assert f"not declared in MONITOR_EXPERIMENTS ({other})" in note


def test_the_table_prints_the_remaining_sample_as_the_reason_does(
    store_env: dict[str, str], tmp_path: Path
) -> None:
    # before: "not decided yet: about 4,728 more units ..." beside a remaining_sample of 4727.628842
    declared = tmp_path / "experiments.yaml"
    declared.write_text(DECLARED)
    env = {**store_env, "MONITOR_EXPERIMENTS": str(declared)}
    result = CliRunner().invoke(app, ["experiment", "report", "--experiment", "aa"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(
        CliRunner()
        .invoke(app, ["experiment", "report", "--experiment", "aa", "--format", "json"], env=env)
        .stdout
    )[-1]
    assert summary["decision"] == "continue" and summary["remaining_sample"] > 1000
    remaining = f"{summary['remaining_sample']:,.0f}"
    assert f"about {remaining} more units" in summary["reason"]
    lines = result.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "remaining_sample" in line)
    header, row = lines[at], lines[at + 1]  # the summary table's header and first line
    start = header.index("remaining_sample")
    assert row[start : start + len("remaining_sample")].strip() == remaining


def test_a_covariate_no_inference_carried_is_named(store_env: dict[str, str], tmp_path: Path):
    # before: a misspelt covariate (prior_task for prior_tasks) adjusted nothing, silently: the
    # report read as if CUPED had narrowed its intervals
    declared = tmp_path / "experiments.yaml"
    declared.write_text(DECLARED + "    covariate: prior_task\n")  # the last one: aa's
    env = {**store_env, "MONITOR_EXPERIMENTS": str(declared)}
    _, note = report(env)  # prompt-v3: its inferences carried prior_tasks
    assert note == ""
    _, note = report(env, "aa")
    assert note.startswith(
        "note: experiment 'aa' declares covariate 'prior_task', but the workers folded no "
        "inference of it with a non-zero numeric feature 'prior_task': nothing is CUPED-adjusted."
    )


def test_check_names_declared_segments_the_workers_compute_no_rows_for(tmp_path: Path) -> None:
    # before: `segments: [region, tenant]` checked OK while MONITOR_SEGMENT_KEYS had region only,
    # and the report never showed a tenant row, nothing saying why
    declared = tmp_path / "experiments.yaml"
    declared.write_text(DECLARED.replace("covariate: prior_tasks", "segments: [region, tenant]"))
    check = ["experiments", "check", str(declared)]
    result = CliRunner().invoke(app, check, env={"MONITOR_SEGMENT_KEYS": '["region"]'})
    assert result.exit_code == 0, result.output
    assert "2 experiments OK" in result.stdout
    assert result.stderr == (
        "note: experiment 'prompt-v3': segment tenant is not in MONITOR_SEGMENT_KEYS "
        '(["region"]): the workers compute per-segment rows only for those keys; add them there, '
        "or no row will show\n"
    )
    result = CliRunner().invoke(app, check, env={"MONITOR_SEGMENT_KEYS": '["tenant", "region"]'})
    assert result.exit_code == 0 and result.stderr == ""


def test_check_shows_what_the_workers_will_measure_for_each_experiment(tmp_path: Path) -> None:
    """Before: a table of variants, primary metric, guardrails, mde and alpha; the covariate, the
    metrics also reported, the segments and the power were not shown."""
    declared = tmp_path / "experiments.yaml"
    declared.write_text(
        DECLARED.replace(
            "covariate: prior_tasks",
            "covariate: prior_tasks\n    metrics: [kpi.revenue]\n    segments: [region]",
        )
    )
    result = CliRunner().invoke(
        app, ["experiments", "check", str(declared)], env={"MONITOR_SEGMENT_KEYS": '["region"]'}
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{declared}: 2 experiments OK\n"
        "\n"
        "prompt-v3\n"
        "  variants        control 50 %, treatment 50 %\n"
        "  primary metric  task_completion, no minimum detectable effect (no planned sample), alpha 0.05, power 0.8\n"
        "  guardrails      human_takeover (margin 0), latency_ms (margin 25)\n"
        "  also reported   kpi.revenue\n"
        "  covariate       prior_tasks (CUPED)\n"
        "  segments        region\n"
        "\n"
        "aa\n"
        "  variants        control 50 %, treatment 50 %\n"
        "  primary metric  task_completion, minimum detectable effect 0.05, alpha 0.05, power 0.8\n"
        "  guardrails      human_takeover, bad_case, latency_ms (margin 0: harmed by any worsening)\n"
        "  also reported   none\n"
        "  covariate       none\n"
        "  segments        none\n"
    )
