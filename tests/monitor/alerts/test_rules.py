"""Alert rule specs: loading, validation errors that name the rule, key, value and choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.alerts.rules import AlertRule, configured_rules, default_rules, load_rules
from monitor.errors import ConfigError, MonitorError

VALID = """
rules:
  - name: takeover_high
    signal: metric
    severity: warning
    metric: human_takeover_rate
    condition: above
    threshold: 0.15
    min_samples: 50
    for_windows: 3
    cooldown_seconds: 2h
    runbook_url: https://runbooks.example/takeover
"""


def test_load_valid_text_fills_defaults_and_parses_durations() -> None:
    (rule,) = load_rules(VALID)
    assert rule == AlertRule(
        "takeover_high",
        "metric",
        "warning",
        "human_takeover_rate",
        "above",
        0.15,
        min_samples=50,
        for_windows=3,
        cooldown_seconds=7200.0,
        runbook_url="https://runbooks.example/takeover",
    )
    assert rule.relative_to == "absolute" and rule.feature is None


def test_load_from_path_and_from_top_level_list(tmp_path: Path) -> None:
    file = tmp_path / "rules.yaml"
    file.write_text(VALID)
    assert load_rules(file) == load_rules(str(file)) == load_rules(VALID)
    listed = "- {name: d, signal: detector, severity: info}"
    assert load_rules(listed)[0].metric is None


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_rules(tmp_path / "nope.yaml")


def test_unknown_key_names_rule_key_and_allowed_keys() -> None:
    with pytest.raises(ConfigError) as info:
        load_rules(
            "rules: [{name: r1, signal: drift, severity: warning, metric: psi, condition: above, "
            "threshold: 0.2, treshold: 0.3}]"
        )
    message = str(info.value)
    assert "rule 'r1'" in message and "'treshold'" in message
    assert "allowed keys: name, signal, severity" in message


def test_bad_values_name_value_and_choices() -> None:
    with pytest.raises(ConfigError) as info:
        load_rules(
            "rules: [{name: r2, signal: vibes, severity: loud, metric: x, condition: sideways, "
            "threshold: 1, relative_to: yesterday}]"
        )
    message = str(info.value)
    assert "signal: 'vibes' is not one of drift, detector, metric, data_quality, latency" in message
    assert "severity: 'loud' is not one of info, warning, critical" in message
    assert "condition: 'sideways' is not one of above, below" in message
    assert "relative_to: 'yesterday' is not one of absolute, baseline, previous_version" in message


def test_several_rules_with_errors_are_reported_together() -> None:
    text = """
rules:
  - {name: a, signal: metric, severity: warning, metric: accuracy, condition: above, threshold: high}
  - {name: b, signal: metric, severity: warning, metric: accuracy, condition: above, threshold: 1, for_windows: 0}
  - {name: c, signal: metric, severity: warning}
  - {signal: drift, severity: info}
  - {name: e, signal: detector, severity: info, min_samples: -5, cooldown_seconds: soon}
"""
    with pytest.raises(ConfigError) as info:
        load_rules(text)
    message = str(info.value)
    assert message.startswith("6 problems in alert rules")
    assert "rule 'a': threshold: 'high' is not a finite number" in message
    assert "rule 'b': for_windows: 0 is not an integer >= 1" in message
    assert "rule 'c': signal 'metric' needs metric, condition and threshold" in message
    assert "rule #3: name is required" in message
    assert "rule 'e': cooldown_seconds: duration 'soon'" in message


def test_a_threshold_too_large_for_a_float_is_a_problem_not_a_crash() -> None:
    """Before: an OverflowError traceback out of `monitor rules check`."""
    big = "9" * 400
    text = f"rules: [{{name: a, signal: metric, severity: warning, metric: accuracy, condition: above, threshold: {big}}}]"
    with pytest.raises(ConfigError, match="rule 'a': threshold: 9{40}... is too large"):
        load_rules(text)


def test_duplicate_names_and_bad_documents() -> None:
    dup = "- {name: a, signal: detector, severity: info}\n- {name: a, signal: detector, severity: info}"
    with pytest.raises(ConfigError, match="'a': name is used more than once"):
        load_rules(dup)
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_rules("rules: [unclosed")
    with pytest.raises(ConfigError, match="expected a list of rules"):
        load_rules("rules: 3")
    with pytest.raises(ConfigError, match="is not a mapping"):
        load_rules("rules: [just-a-string]")


def test_config_error_is_a_monitor_error() -> None:
    with pytest.raises(MonitorError):
        AlertRule("x", "metric", "warning", None, None, None)


@pytest.mark.parametrize(
    ("condition", "threshold", "relative_to", "value", "reference", "expected"),
    [
        ("above", 0.15, "absolute", 0.16, None, True),
        ("above", 0.15, "absolute", 0.15, None, False),
        ("below", 0.7, "absolute", 0.69, None, True),
        ("below", -0.05, "baseline", 0.80, 0.90, True),
        ("below", -0.05, "baseline", 0.86, 0.90, False),
        ("below", -0.05, "previous_version", 0.80, None, False),  # no reference: cannot judge
        ("above", 0.5, "baseline", 2.0, 1.2, True),
        ("above", 0.15, "absolute", float("nan"), None, False),
    ],
)
def test_breached(
    condition: str,
    threshold: float,
    relative_to: str,
    value: float,
    reference: float | None,
    expected: bool,
) -> None:
    rule = AlertRule(
        "r", "metric", "warning", "accuracy", condition, threshold, relative_to=relative_to
    )  # type: ignore[arg-type]
    assert rule.breached(value, reference) is expected


def test_default_rules_cover_the_documented_cases() -> None:
    rules = {r.name: r for r in default_rules()}
    assert rules["input_drift_significant"].signal == "drift"
    assert rules["input_drift_significant"].breached(2.0) and not rules[
        "input_drift_significant"
    ].breached(1.0)
    assert rules["concept_drift_detected"].signal == "detector"
    assert rules["satisfaction_drop_vs_baseline"].relative_to == "baseline"
    assert rules["satisfaction_drop_vs_previous_version"].relative_to == "previous_version"
    assert rules["task_completion_low"].condition == "below"
    assert rules["human_takeover_high"].condition == "above"
    assert {r.metric for r in rules.values() if r.signal == "data_quality"} == {
        "dlq_rate",
        "missing_rate",
        "late_event_rate",
    }
    assert rules["latency_p95_regression"].signal == "latency"
    assert all(r.description and r.runbook_url for r in rules.values())


ONE_RULE = (
    "rules:\n  - {name: ok, signal: metric, severity: info, metric: accuracy, "
    "condition: below, threshold: 0.5}\n"
)


def test_the_configured_rules_file_is_read_whatever_its_name_ends_with(tmp_path: Path) -> None:
    rules = tmp_path / "alert-rules.conf"  # not .yaml: it was parsed as the YAML text of its path
    rules.write_text(ONE_RULE)
    assert [r.name for r in configured_rules(str(rules))] == ["ok"]
    assert configured_rules(None) == default_rules()


def test_a_problem_in_the_configured_rules_names_the_setting_and_the_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(ONE_RULE.replace("accuracy", "acuracy"))
    with pytest.raises(
        ConfigError, match=f"^MONITOR_ALERT_RULES={rules}: 1 problem in alert rules"
    ):
        configured_rules(str(rules))
