"""IncidentEvaluator: the alertname and runbook of an incident, evidence of a partial drift window."""

from __future__ import annotations

from monitor.adapters.alert_sinks import alertmanager_payload
from monitor.alerts.evaluate import IncidentEvaluator, MetricValue, WindowFacts
from monitor.alerts.rules import AlertRule, with_runbook_base

BASE = "https://docs.example/monitor/"


def rules() -> tuple[AlertRule, ...]:
    return with_runbook_base(
        (
            AlertRule(
                "takeover_high",
                "metric",
                "warning",
                "human_takeover_rate",
                "above",
                0.2,
                min_samples=10,
                runbook_url="docs/alerts.md#outcome-degradation",
            ),
            AlertRule(
                "satisfaction_low",
                "metric",
                "critical",
                "satisfaction_rate",
                "below",
                0.5,
                min_samples=10,
                runbook_url="https://wiki.example/satisfaction",
            ),
        ),
        BASE,
    )


def facts(start: float, takeover: float, satisfaction: float) -> WindowFacts:
    return WindowFacts(
        "chat",
        "v2",
        start,
        start + 60,
        metrics={
            "human_takeover": MetricValue(takeover, takeover * 100, 100, None, None),
            "satisfaction": MetricValue(satisfaction, satisfaction * 100, 100, None, None),
        },
    )


def test_the_alertname_is_the_leading_rule_and_the_runbook_is_absolute() -> None:
    evaluator = IncidentEvaluator()
    [fired] = evaluator.evaluate([facts(0, 0.5, 0.9)], rules())
    assert fired.rule == "takeover_high"
    assert fired.runbook_url == BASE + "docs/alerts.md#outcome-degradation"
    payload = alertmanager_payload(fired)
    assert payload["labels"]["alertname"] == "takeover_high"
    assert payload["annotations"]["runbook_url"] == BASE + "docs/alerts.md#outcome-degradation"
    [resolved] = evaluator.evaluate([facts(60, 0.1, 0.9)], rules())
    assert (resolved.status, resolved.rule, resolved.fingerprint) == (
        "resolved",
        "takeover_high",
        fired.fingerprint,
    )


def test_the_most_severe_firing_rule_leads_and_keeps_its_absolute_runbook() -> None:
    [fired] = IncidentEvaluator().evaluate([facts(0, 0.5, 0.3)], rules())
    assert (fired.rule, fired.severity) == ("satisfaction_low", "critical")
    assert fired.runbook_url == "https://wiki.example/satisfaction"
    assert fired.evidence["rules"] == ["takeover_high", "satisfaction_low"]


def test_a_relative_runbook_base_is_a_config_error() -> None:
    import pytest

    from monitor.errors import ConfigError

    with pytest.raises(
        ConfigError, match="MONITOR_RUNBOOK_BASE_URL='docs/': expected an absolute http"
    ):
        with_runbook_base(rules(), "docs/")


DRIFT = AlertRule("drift", "drift", "warning", "drift_severity", "above", 1.5, min_samples=100)


def drift_facts(scored_on: int, events: int) -> WindowFacts:
    return WindowFacts(
        "m",
        "v1",
        0.0,
        60.0,
        drift=[("x", 0.6, "significant", scored_on, 0.0)],
        drift_events=(scored_on, events),
    )


def test_a_drift_alert_on_a_partial_window_says_so_in_its_evidence_and_description() -> None:
    [alert] = IncidentEvaluator().evaluate([drift_facts(300, 350)], (DRIFT,))
    assert alert.evidence["drift_window"] == {"n_current": 300, "n_events": 350, "partial": True}
    assert "partial window: 300 of its 350 events" in alert.description


def test_a_whole_window_is_not_marked_partial() -> None:
    [alert] = IncidentEvaluator().evaluate([drift_facts(350, 350)], (DRIFT,))
    assert alert.evidence["drift_window"]["partial"] is False
    assert "partial" not in alert.description
