"""The CLI says what is wrong: each error case with its message and exit code 2, against a real
embedded store holding a few windows, drift rows, a baseline and an alert."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from tests_support import monitor_cli
from typer.testing import CliRunner

from monitor.adapters.clickhouse_store import PARTIAL_COLUMNS, ClickHouseStore
from monitor.adapters.drift_store import DriftStore
from monitor.alerts.state import Alert
from monitor.drift.windows import DriftRow
from monitor.outcomes.sketch import quantile_from_sketch, sketch_counts
from monitor.services.alerts import ALERT_COLUMNS
from monitor.services.outcome_windows import METRIC_WINDOW_COLUMNS
from monitor.tools.cli import app

W = 60
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
# The p50 a single 120 ms request reads from its sketch: 119.70464…, within 0.5 % of 120.
P50_OF_120 = quantile_from_sketch(*sketch_counts(np.array([120.0])), 0.5)


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@pytest.fixture(scope="module")
def store_env(chdb_dir: Path) -> Iterator[dict[str, str]]:
    url = f"chdb://{chdb_dir}?database=cli_{uuid.uuid4().hex[:10]}"
    store = ClickHouseStore(url).connect()
    store.migrate()
    columns = list(METRIC_WINDOW_COLUMNS)
    rows = []
    for i, n in enumerate((500, 500, 40, 500)):  # window 0 before the baseline; 2 too small; 3 open
        for metric, value in (("inference_events", n), ("satisfaction", 0.8)):
            for segment in ("", "region=eu"):
                rows.append(
                    [
                        _dt(T0 + i * W),
                        _dt(T0 + (i + 1) * W),
                        "assistant",
                        "v1",
                        metric,
                        segment,
                        value,
                        n,
                        value * n,
                        None,
                        None,
                        _dt(time.time()),
                    ]
                )
    latency = ["assistant", "v1", "latency_p50_ms", "", P50_OF_120, 1, 0.0, None, None]
    rows.append([_dt(T0 + W), _dt(T0 + 2 * W), *latency, _dt(time.time())])
    store.insert("metric_windows", rows, columns)
    drift = DriftStore(store)
    from monitor.drift.baseline import build_baseline

    baseline = build_baseline(
        "assistant",
        "v1",
        [{"features": {"x": float(i % 7)}} for i in range(200)],
        n_bins=5,
        top_k=5,
        now=T0 + W + 1,
        source="test",
    )
    bid = drift.save_baseline(baseline)
    drift.write_drift_rows(
        T0 + W,
        W,
        "assistant",
        "v1",
        [DriftRow("x", bid, 0.3, 0.2, 0.1, 500, 200, "significant", 0, 0, 0)],
        time.time(),
    )
    drift.write_drift_rows(
        T0 + 2 * W,
        W,
        "assistant",
        "v1",
        [DriftRow("x", bid, None, None, None, 40, 200, "insufficient", 0, 0, 0)],
        time.time(),
    )
    # the watermark: the third window has closed, the fourth has not
    store.insert(
        "partials",
        [["inf", 0, 10, _dt(T0), W, "", "", "__offsets", "", 0.0, 0.0, _dt(T0 + 3 * W + 30)]],
        PARTIAL_COLUMNS,
    )
    alert = Alert.firing(
        "human_takeover_high",
        "warning",
        "assistant",
        "v1",
        T0 + 2 * W,
        "assistant v1: takeover up",
        description="Human takeover is above 15 %.",
        recommended_action="retrain_concept_drift",
        evidence={
            "metrics": [{"metric": "human_takeover", "value": 0.31}],
            "trend_query": "SELECT 1",
        },
        runbook_url="https://runbooks.example/alerts#human_takeover_high",
    )
    store.insert(
        "alerts",
        [
            [
                alert.fingerprint,
                alert.status,
                alert.rule,
                alert.severity,
                alert.model,
                alert.model_version,
                _dt(alert.starts_at),
                None,
                alert.summary,
                alert.description,
                alert.recommended_action,
                json.dumps(dict(alert.evidence)),
                alert.runbook_url,
                _dt(time.time()),
            ]
        ],
        ALERT_COLUMNS,
    )
    yield {
        "MONITOR_CLICKHOUSE_URL": url,
        "MONITOR_ALLOWED_LATENESS": "0s",
        "MONITOR_DRIFT_MIN_SAMPLES": "100",
    }
    store.command(f"DROP DATABASE IF EXISTS {store.db}")


def cli(env: dict[str, str], *args: str):
    return CliRunner().invoke(app, list(args), env=env)


def assert_usage_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ["query", "metrics", "--metric", "satisfacton"],
            [
                "--metric 'satisfacton' is not a known metric",
                "satisfaction",
                "latency_p95_ms",
                "input_tokens_p99",
            ],
        ),
        (
            ["query", "compare", "--metric", "latency_ms"],
            ["is not a known compared metric", "human_takeover"],
        ),
        (
            ["query", "detections", "--stream", "errors"],
            ["--stream 'errors' is not a known detector stream", "error"],
        ),
        (
            ["query", "detections", "--detector", "adwn"],
            ["--detector 'adwn' is not a known detector", "adwin"],
        ),
        (
            ["alerts", "--status", "fired"],
            [
                "--status 'fired' is not a known alert status; known: cleared, firing, resolved, superseded"
            ],
        ),
        (["query", "alerts", "--status", "open"], ["known: cleared, firing, resolved, superseded"]),
    ],
)
def test_fixed_names_are_checked_before_the_store_is_opened(args, fragments) -> None:
    assert_usage_error(
        cli({"MONITOR_CLICKHOUSE_URL": "chdb:///nonexistent/dir"}, *args), *fragments
    )


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ["query", "metrics", "--model", "asistant"],
            ["--model 'asistant' is not a known model; known: assistant"],
        ),
        (
            ["query", "metrics", "--model", "assistant", "--version", "v9"],
            ["--version 'v9' is not a known version of assistant; known: v1"],
        ),
        (["query", "drift", "--version", "v9"], ["known: v1"]),
        (["alerts", "--model", "other"], ["known: assistant"]),
        (
            ["query", "metrics", "--segment", "region=us"],
            ["--segment 'region=us'", "known: '', region=eu"],
        ),
        (
            ["query", "drift", "--feature", "y"],
            ["--feature 'y' is not a known scored feature; known: x"],
        ),
    ],
)
def test_models_versions_segments_and_features_are_checked_against_the_store(
    store_env, args, fragments
) -> None:
    assert_usage_error(cli(store_env, *args), *fragments)


def test_a_known_value_passes_and_the_table_is_aligned(store_env) -> None:
    result = cli(
        store_env,
        "query",
        "metrics",
        "--model",
        "assistant",
        "--metric",
        "inference_events",
        "--segment",
        "region=eu",
        "--limit",
        "2",
        "--until",
        "2026-01-01T00:03:00",
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header, first = lines[0], lines[1]
    assert header.index("model_version") == first.index("v1")  # columns line up
    assert "(2 rows)" in result.stdout


def test_a_table_prints_a_quantile_with_the_digits_its_sketch_supports(store_env) -> None:
    """0.5 % relative accuracy is worth 3 significant digits: the table says 120, not 119.70464;
    JSON keeps the stored value."""
    table = cli(store_env, "query", "metrics", "--metric", "latency_p50_ms")
    assert table.exit_code == 0, table.output
    header, row = table.stdout.splitlines()[:2]
    assert row.split()[-3:] == ["latency_p50_ms", "120", "1"], row
    assert header.index("value") + len("value") == row.index(" 120 ") + len(" 120")  # right-aligned
    as_json = cli(store_env, "query", "metrics", "--metric", "latency_p50_ms", "--format", "json")
    assert json.loads(as_json.stdout)[0]["value"] == P50_OF_120 != 120  # as stored, every digit


@pytest.mark.parametrize("option", ["--since", "--until"])
def test_a_bad_time_is_one_line_naming_the_option_and_the_forms(store_env, option) -> None:
    result = cli(store_env, "query", "metrics", option, "yesterday")
    assert_usage_error(
        result, f"{option} 'yesterday': expected a duration back from now (90m, 2h, 7d) or an ISO"
    )
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"MONITOR_WINDOW": "5 minutes"},
            (
                "MONITOR_WINDOW='5 minutes': expected a duration like 90s, 5m, 2h, 7d, at least 1s "
                "and at most 365d"
            ),
        ),
        ({"MONITOR_PARTITIONS": "four"}, "MONITOR_PARTITIONS='four': expected an integer >= 1"),
        ({"MONITOR_BATCH_WITHIN": "-1"}, "MONITOR_BATCH_WITHIN='-1': expected a number > 0"),
        ({"MONITOR_SEGMENT_KEYS": "region"}, "MONITOR_SEGMENT_KEYS='region': expected a JSON list"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable_and_the_form(env, expected) -> None:
    result = cli(env, "query", "metrics")
    assert_usage_error(result, expected)
    assert len(result.stderr.strip().splitlines()) == 1 and "pydantic" not in result.stderr


def test_a_bad_setting_in_a_config_file_names_the_file_and_key(tmp_path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text('window = "soon"\n')
    assert_usage_error(
        cli({}, "query", "metrics", "--config", str(config)),
        f"{config}: window='soon': expected a duration like 90s, 5m, 2h, 7d, at least 1s and at "
        "most 365d",
    )


def test_a_config_file_that_cannot_be_read_is_one_line_naming_it(tmp_path) -> None:
    binary = tmp_path / "monitor.toml"
    binary.write_bytes(b"\x9f\x00\xff" * 1000)  # a UnicodeDecodeError traceback before
    assert_usage_error(
        cli({}, "query", "metrics", "--config", str(binary)),
        f"{binary}: not UTF-8 text (byte 0x9f at position 0)",
    )
    folder = tmp_path / "conf.d"  # an IsADirectoryError traceback before
    folder.mkdir()
    assert_usage_error(
        cli({}, "query", "metrics", "--config", str(folder)),
        f"{folder}: cannot be read as a settings file (Is a directory)",
    )


def test_rules_check_rejects_unknown_metric_and_detector_names(tmp_path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - {name: sat, signal: metric, severity: warning, metric: satisfaction_rat, condition: below,"
        " threshold: 0.5}\n"
        "  - {name: det, signal: detector, severity: info, metric: adwn}\n"
        "  - {name: ok, signal: metric, severity: info, metric: accuracy, condition: below,"
        " threshold: 0.5}\n"
    )
    result = cli({}, "rules", "check", str(rules))
    assert result.exit_code == 2
    assert "2 problems in alert rules" in result.stderr
    assert "rule 'sat': metric: 'satisfaction_rat' is not one of" in result.stderr
    assert "satisfaction_rate" in result.stderr
    assert "rule 'det': metric: 'adwn' is not one of adwin" in result.stderr


def test_rules_check_passes_the_shipped_rules_and_a_missing_file_is_an_error(tmp_path) -> None:
    from monitor.alerts.rules import DEFAULT_RULES_PATH

    ok = cli({}, "rules", "check", str(DEFAULT_RULES_PATH))
    assert ok.exit_code == 0 and "rules OK" in ok.stdout
    assert_usage_error(
        cli({}, "rules", "check", str(tmp_path / "nope.yaml")), "nope.yaml does not exist"
    )


@pytest.mark.parametrize(
    ("setting", "text", "fragment"),
    [
        (
            "MONITOR_EXPERIMENTS",
            "experiments:\n  - {name: e, control: a, treatment: b, alpha: 7}\n",
            "alpha: 7 is outside",
        ),
        ("MONITOR_ALERT_RULES", "rules: [{name: r, signal: metrik, severity: info}]\n", "rule 'r'"),
    ],
)
def test_a_bad_experiments_or_rules_file_stops_the_worker_before_anything_opens(
    tmp_path, setting: str, text: str, fragment: str
) -> None:
    """Before: the worker checked the broker, created and migrated the store, then said it."""
    config = tmp_path / "config.yaml"
    config.write_text(text)
    store = tmp_path / "store"
    env = {
        setting: str(config),
        "MONITOR_CLICKHOUSE_URL": f"chdb://{store}",
        "MONITOR_KAFKA_BOOTSTRAP": "127.0.0.1:1",  # nothing listens: never asked
    }
    result = cli(env, "worker")
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert f"error: {setting}={config}" in result.stderr and fragment in result.stderr
    assert not store.exists()


def test_rules_check_without_a_file_checks_what_the_worker_would_load(tmp_path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - {name: ok, signal: metric, severity: info, metric: acuracy, "
        "condition: below, threshold: 0.5}\n"
    )
    bad = cli({"MONITOR_ALERT_RULES": str(rules)}, "rules", "check")
    assert bad.exit_code == 2, bad.output
    assert f"error: MONITOR_ALERT_RULES={rules}: 1 problem in alert rules" in bad.stderr
    assert "'acuracy' is not one of" in bad.stderr
    rules.write_text(rules.read_text().replace("acuracy", "accuracy"))
    ok = cli({"MONITOR_ALERT_RULES": str(rules)}, "rules", "check")
    assert ok.exit_code == 0 and f"MONITOR_ALERT_RULES={rules}: 1 rule OK" in ok.stdout, ok.output
    settings_file = tmp_path / "monitor.toml"
    settings_file.write_text(f'alert_rules = "{rules}"\n')
    from_file = cli({}, "rules", "check", "--config", str(settings_file))
    assert from_file.exit_code == 0 and "1 rule OK" in from_file.stdout, from_file.output
    shipped = cli({}, "rules", "check")
    assert shipped.exit_code == 0, shipped.output
    assert "MONITOR_ALERT_RULES is unset, the shipped defaults: 13 rules OK" in shipped.stdout
    # the shipped dlq_rate_high is accepted but only Prometheus judges dlq_rate: said, not hidden
    assert (
        "note: rule 'dlq_rate_high': the workers never fire it (dlq_rate is judged by Prometheus: "
        "MonitorDLQRateHigh" in shipped.stderr
    ), shipped.stderr
    assert "note:" not in ok.stderr  # a file without such a rule


def test_a_file_of_one_rule_or_one_experiment_says_so_in_the_singular(tmp_path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - {name: ok, signal: metric, severity: info, metric: accuracy, "
        "condition: below, threshold: 0.5}\n"
    )
    assert f"{rules}: 1 rule OK" in cli({}, "rules", "check", str(rules)).stdout
    experiments = tmp_path / "experiments.yaml"
    experiments.write_text("experiments: [{name: a, control: x, treatment: y}]\n")
    checked = cli({}, "experiments", "check", str(experiments))
    assert checked.exit_code == 0, checked.output
    assert f"{experiments}: 1 experiment OK" in checked.stdout


def test_query_drift_reports_windows_counted_but_not_scored_and_why(store_env) -> None:
    result = cli(store_env, "query", "drift", "--model", "assistant")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "significant" in out and "windows counted but not scored" in out
    unscored = out[out.index("windows counted but not scored") :]
    assert "2026-01-01 00:00:00" in unscored and "no baseline when its events arrived" in unscored
    assert (
        "2026-01-01 00:02:00" in unscored
        and "too few samples: at most 40 values per feature" in unscored
    )
    assert "2026-01-01 00:03:00" in unscored and "still open" in unscored
    assert "2026-01-01 00:01:00" not in unscored  # scored
    as_json = cli(store_env, "query", "drift", "--format", "json")
    assert len(json.loads(as_json.stdout)) == 2  # stdout stays JSON; the report goes to stderr
    assert (
        "not scored: 2026-01-01 00:00:00 assistant/v1 (500 events): no baseline" in as_json.stderr
    )


def test_alerts_show_description_evidence_and_runbook(store_env) -> None:
    table = cli(store_env, "alerts")
    assert table.exit_code == 0, table.output
    for text in (
        "firing",
        "assistant v1: takeover up",
        "Human takeover is above 15 %.",
        "retrain_concept_drift",
        '"value": 0.31',
        "https://runbooks.example/alerts#human_takeover_high",
        "SELECT 1",
        "(1 alert)",
    ):
        assert text in table.stdout, text
    listed = json.loads(cli(store_env, "alerts", "--format", "json").stdout)
    assert listed[0]["description"] == "Human takeover is above 15 %."
    assert listed[0]["evidence"]["metrics"][0]["value"] == 0.31
    assert listed[0]["runbook_url"].startswith("https://runbooks.example/")
    shown = cli(store_env, "alerts", "show", listed[0]["id"][:6], "--format", "json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)[0]["rule"] == "human_takeover_high"
    assert_usage_error(
        cli(store_env, "alerts", "show", "zzzz"), "no alert 'zzzz'; known ids: " + listed[0]["id"]
    )


def test_help_describes_every_option() -> None:
    import typer

    command = typer.main.get_command(app)
    missing = []

    def walk(cmd, path):
        for param in cmd.params:
            if param.name != "help" and not getattr(param, "help", None):
                missing.append(f"{path} {param.name}")
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(command, "monitor")
    assert missing == []


def values_past_the_bounds() -> list[tuple[list[str], str, str, str]]:
    """(command, option, value, bound) just past each bound of every bounded number option."""
    import typer

    found = []

    def walk(cmd, path):
        for param in cmd.params:
            if param.param_type_name != "option":
                continue
            option = max(param.opts, key=len)
            if getattr(param, "min", None) is not None:
                found.append((path, option, str(param.min - 1), f">= {param.min}"))
            if getattr(param, "max", None) is not None:
                found.append((path, option, str(param.max + 1), f"<= {param.max}"))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


PAST_THE_BOUNDS = values_past_the_bounds()


def test_every_bounded_option_is_found() -> None:
    found = {(" ".join(path), option) for path, option, _, _ in PAST_THE_BOUNDS}
    assert {("query metrics", "--limit"), ("alerts", "--limit"), ("bench", "--events")} <= found
    assert {("broker", "--port"), ("baseline build", "--bins"), ("replay", "--rate")} <= found


@pytest.mark.parametrize(("command", "option", "value", "bound"), PAST_THE_BOUNDS)
def test_a_value_past_an_options_bounds_is_one_line_naming_the_option(
    command, option, value, bound
) -> None:
    """Before: Typer's boxed 'Invalid value for '--limit': Input should be greater than or equal
    to 1' under a usage line, not the `error: ...` line of every other bad option."""
    env = {
        "MONITOR_CLICKHOUSE_URL": "chdb:///nonexistent/dir",
        "MONITOR_KAFKA_BOOTSTRAP": "127.0.0.1:1",
    }
    result = cli(env, *command, option, value)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()  # nothing else: no usage line, no box
    assert re.fullmatch(
        rf"error: {option} '{re.escape(value)}': expected (an integer|a number) \S.*", line
    ), line
    assert bound in line, line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["query", "metrics", "--limit", "0"],
            "--limit '0': expected an integer >= 1 and <= 1000000000",
        ),
        (
            ["query", "metrics", "--limit", "ten"],
            "--limit 'ten': expected an integer >= 1 and <= 1000000000",
        ),
        (["dead-letters", "--limit", "-1"], "--limit '-1': expected an integer >= 0"),
        (["simulate", "--shadow", "1.5"], "--shadow '1.5': expected a number >= 0.0 and <= 1.0"),
        (["fuzz", "--seed", "x"], "--seed 'x': expected an integer"),
    ],
)
def test_a_number_option_says_its_bounds_as_a_setting_does(args, expected) -> None:
    result = cli({"MONITOR_KAFKA_BOOTSTRAP": "127.0.0.1:1"}, *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [f"error: {expected}"]


def test_baseline_list_names_the_models_that_have_baselines(store_env) -> None:
    assert_usage_error(
        cli(store_env, "baseline", "list", "--model", "asistant"),
        "--model 'asistant' is not a known model with a baseline; known: assistant",
    )
    listed = cli(store_env, "baseline", "list", "--model", "assistant", "--format", "json")
    assert listed.exit_code == 0 and json.loads(listed.stdout)[0]["model_version"] == "v1"


def test_a_bad_demo_window_is_one_line_naming_the_option(tmp_path) -> None:
    result = cli(
        {}, "demo", "--window", "5 minutes", "--duration", "1s", "--data-dir", str(tmp_path)
    )
    assert_usage_error(result, "--window '5 minutes': expected a duration like 10s, 5m, 2h, 7d")
    assert not (tmp_path / "clickhouse").exists()  # nothing was started


def test_baseline_delete_rejects_a_version_or_id_without_baselines(store_env) -> None:
    assert_usage_error(
        cli(store_env, "baseline", "delete", "--model", "assistant", "--version", "v7"),
        "--version 'v7' is not a known version with a baseline; known: v1",
    )
    assert_usage_error(
        cli(
            store_env,
            "baseline",
            "delete",
            "--model",
            "assistant",
            "--version",
            "v1",
            "--id",
            "nope",
        ),
        "--id 'nope' is not a known baseline of assistant/v1; known: ",
    )


def test_a_replayed_window_written_after_the_baseline_is_not_called_before_it(chdb_dir) -> None:
    """Events an hour old, replayed after the baseline was built (README's order): their window
    ends before the baseline's date in event time, but its events were written after it, so it is
    still open, not "before a baseline" (the baseline's date is the wall clock, the events' write
    time is too)."""
    url = f"chdb://{chdb_dir}?database=cli_{uuid.uuid4().hex[:10]}"
    store = ClickHouseStore(url).connect()
    store.migrate()
    from monitor.drift.baseline import build_baseline

    records = [{"features": {"x": float(i % 7)}} for i in range(200)]
    DriftStore(store).save_baseline(build_baseline("assistant", "v1", records, now=T0 + W + 1))
    row = [_dt(T0), _dt(T0 + W), "assistant", "v1", "inference_events", "", 500, 500, 500]
    store.insert("metric_windows", [[*row, None, None, _dt(time.time())]], METRIC_WINDOW_COLUMNS)
    fold = ["inf", 0, 11, _dt(T0), W, "assistant", "v1", "inference_events", "", 500.0, 500.0]
    marker = ["inf", 0, 11, _dt(T0), W, "", "", "__offsets", "", 0.0, 0.0, _dt(T0 + 30)]
    store.insert("partials", [[*fold, _dt(T0 + 30)], marker], PARTIAL_COLUMNS)  # written now
    env = {"MONITOR_CLICKHOUSE_URL": url, "MONITOR_ALLOWED_LATENESS": "600s"}
    out = cli(env, "query", "drift", "--model", "assistant").stdout
    unscored = out[out.index("windows counted but not scored") :]
    assert "still open" in unscored and "no baseline when its events arrived" not in unscored
    store.command(f"DROP DATABASE IF EXISTS {store.db}")


def test_json_and_csv_carry_numbers_as_stored_and_a_table_never_prints_a_tiny_one_as_zero(
    capsys,
) -> None:
    """A p-value of 3.2e-09 read 0.0 in JSON and CSV (rounded to six decimals for every format)."""
    from monitor.tools.cli_support import Format, print_rows

    rows = [("ab", 3.2e-09, 0.6220477036624747)]
    print_rows(["name", "p_value", "value"], rows, Format.json)
    assert json.loads(capsys.readouterr().out) == [
        {"name": "ab", "p_value": 3.2e-09, "value": 0.6220477036624747}
    ]
    print_rows(["name", "p_value", "value"], rows, Format.csv)
    assert capsys.readouterr().out.splitlines()[1] == "ab,3.2e-09,0.6220477036624747"
    print_rows(["name", "p_value", "value"], rows, Format.table)
    table = capsys.readouterr().out
    assert "3.2e-09" in table and "0.622048" in table and "0.6220477" not in table


NOT_UTF8 = "\udcff\udcfe"  # the bytes ff fe on a command line, as Python keeps them


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # a clickhouse-connect traceback, then 'ClickHouse insert into baselines failed'
        (
            ["baseline", "build", "REFERENCE", "--model", NOT_UTF8, "--version", "v1"],
            "--model '\\xff\\xfe'",
        ),
        # 'ClickHouse query failed: Unable to cast Python instance of type <class 'str'> ...'
        (["alerts", "show", "ab" + NOT_UTF8], "an argument 'ab\\xff\\xfe'"),
        (["experiment", "report", f"--experiment={NOT_UTF8}"], "--experiment '\\xff\\xfe'"),
    ],
)
def test_a_value_that_is_not_utf8_is_one_line_naming_its_option(tmp_path, args, expected) -> None:
    reference = tmp_path / "reference.jsonl"
    reference.write_text('{"features": {"x": 1.0}}\n{"features": {"x": 2.0}}\n')
    env = {"MONITOR_CLICKHOUSE_URL": f"chdb://{tmp_path / 'store'}"}  # opened by monitor only
    build = ("baseline", "build", str(reference), "--model", "m", "--version", "v1")
    monitor_cli(*build, env=env, timeout=60)  # a store holding a baseline
    args = [str(reference) if a == "REFERENCE" else a for a in args]
    done = monitor_cli(*args, env=env, check=False, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [f"error: {expected}: not UTF-8 text"]
