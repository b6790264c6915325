"""IncidentEvaluator: the alertname and runbook of an incident, evidence of a partial drift window."""

from __future__ import annotations

import json
from dataclasses import replace

from monitor.adapters.alert_sinks import alertmanager_payload
from monitor.alerts.evaluate import Comparison, IncidentEvaluator, MetricValue, WindowFacts
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


# An incident's diagnosis follows the evidence: outcomes not known yet, then an escalation.
TAKEOVER = AlertRule(
    "takeover_vs_previous",
    "metric",
    "critical",
    "human_takeover_rate",
    "above",
    0.05,
    relative_to="previous_version",
    min_samples=200,
)


def version_facts(
    start: float, *, drifted: bool, takeover: float | None, rated: int = 400
) -> WindowFacts:
    """v2 of ``chat`` (first seen at 0, v1 before it) in the window at ``start``; ``takeover``
    None: no feedback joined yet, else the rate over ``rated`` observations."""
    metrics = {"inference_events": MetricValue(1000, 1000, 1000)}
    comparisons = {}
    if takeover is not None:
        metrics["human_takeover"] = MetricValue(takeover, takeover * rated, rated, None, None)
        comparisons[("human_takeover", "version:v1")] = Comparison(
            takeover, 0.05, takeover - 0.05, takeover - 0.08, takeover - 0.02, 0.001
        )
    return WindowFacts(
        "chat",
        "v2",
        start,
        start + 60,
        metrics=metrics,
        comparisons=comparisons,
        drift=[
            ("language", 0.9 if drifted else 0.01, "significant" if drifted else "none", 1000, 0.0)
        ],
        first_seen=0.0,
        previous_version="v1",
    )


def test_drift_before_any_feedback_says_outcomes_are_not_known_yet() -> None:
    [alert] = IncidentEvaluator().evaluate(
        [version_facts(0, drifted=True, takeover=None)], (DRIFT, TAKEOVER)
    )
    assert alert.recommended_action == "investigate_upstream"
    assert "outcomes not known yet" in alert.summary
    assert "Inputs moved but outcomes hold" not in alert.description
    assert (
        "not known yet: 0 feedback observations in this window, the outcome rules need 200"
        in alert.description
    )


def test_drift_with_enough_feedback_and_no_degradation_says_outcomes_hold() -> None:
    [alert] = IncidentEvaluator().evaluate(
        [version_facts(0, drifted=True, takeover=0.05)], (DRIFT, TAKEOVER)
    )
    assert "input drift without outcome change" in alert.summary
    assert "Inputs moved but outcomes hold" in alert.description


def test_an_open_incident_escalates_when_outcomes_degrade_in_a_later_window() -> None:
    evaluator = IncidentEvaluator()
    [first] = evaluator.evaluate([version_facts(0, drifted=True, takeover=None)], (DRIFT, TAKEOVER))
    superseded, escalated = evaluator.evaluate(
        [version_facts(60, drifted=True, takeover=0.30)], (DRIFT, TAKEOVER)
    )
    assert (superseded.status, superseded.fingerprint, superseded.ends_at) == (
        "resolved",
        first.fingerprint,
        120,
    )
    assert superseded.evidence["superseded_by"] == {
        "rule": "takeover_vs_previous",
        "action": "rollback",
    }
    # resolved for every sink (the old series stops), but not cleared: every reader is told so
    annotations = alertmanager_payload(superseded)["annotations"]
    assert annotations["summary"].startswith("Superseded by takeover_vs_previous (rollback): ")
    assert annotations.get("superseded_by") == "takeover_vs_previous (rollback)"
    assert superseded.to_dict().get("resolution") == "superseded"
    assert superseded.status_text == "superseded by takeover_vs_previous (rollback)"
    assert (escalated.status, escalated.rule, escalated.severity, escalated.recommended_action) == (
        "firing",
        "takeover_vs_previous",
        "critical",
        "rollback",
    )
    assert escalated.starts_at == 120
    assert "roll back to v1" in escalated.summary
    # a calmer diagnosis later does not page again; every rule clear resolves the escalated alert,
    # also after the state went through JSON (a new leader)
    assert (
        evaluator.evaluate([version_facts(120, drifted=True, takeover=0.05)], (DRIFT, TAKEOVER))
        == []
    )
    evaluator = IncidentEvaluator.from_state(json.loads(json.dumps(evaluator.to_state())))
    [resolved] = evaluator.evaluate(
        [version_facts(180, drifted=False, takeover=0.05)], (DRIFT, TAKEOVER)
    )
    assert (resolved.status, resolved.fingerprint) == ("resolved", escalated.fingerprint)
    assert (resolved.resolution, resolved.status_text) == ("cleared", "resolved")
    assert "superseded_by" not in alertmanager_payload(resolved)["annotations"]


def test_a_breach_on_fewer_observations_than_the_rule_needs_does_not_escalate() -> None:
    # a window judged while only part of its feedback is in: 150 of the 200 the rule needs
    evaluator = IncidentEvaluator()
    [first] = evaluator.evaluate([version_facts(0, drifted=True, takeover=None)], (DRIFT, TAKEOVER))
    thin = version_facts(60, drifted=True, takeover=0.30, rated=150)
    assert evaluator.evaluate([thin], (DRIFT, TAKEOVER)) == []
    assert list(evaluator.open.values()) == [first]  # still the drift, outcomes not known yet
    superseded, escalated = evaluator.evaluate(
        [version_facts(120, drifted=True, takeover=0.30)], (DRIFT, TAKEOVER)
    )
    assert (superseded.evidence["superseded_by"], escalated.recommended_action) == (
        {"rule": "takeover_vs_previous", "action": "rollback"},
        "rollback",
    )


def test_an_escalation_under_the_same_alertname_is_one_new_alert() -> None:
    critical_drift = AlertRule(
        "drift", "drift", "critical", "drift_severity", "above", 1.5, min_samples=100
    )
    warning_takeover = AlertRule(
        "takeover", "metric", "warning", "human_takeover_rate", "above", 0.2, min_samples=200
    )
    rules = (critical_drift, warning_takeover)
    evaluator = IncidentEvaluator()
    old = version_facts(0, drifted=True, takeover=0.05)
    [first] = evaluator.evaluate([replace(old, first_seen=None, previous_version=None)], rules)
    later = version_facts(60, drifted=True, takeover=0.30)
    [escalated] = evaluator.evaluate(
        [replace(later, first_seen=None, previous_version=None)], rules
    )
    assert (first.recommended_action, escalated.recommended_action) == (
        "investigate_upstream",
        "fine_tune",
    )
    assert (escalated.fingerprint, escalated.status, escalated.starts_at) == (
        first.fingerprint,
        "firing",
        120,
    )


def test_the_description_shows_the_newest_detections_and_the_evidence_all() -> None:
    detector = AlertRule("concept", "detector", "warning", "adwin", None, None, min_samples=100)
    detections = [f"error/adwin: rate 0.0{i} -> rate 0.{i}" for i in range(1, 6)]
    facts = WindowFacts(
        "chat",
        "v2",
        0.0,
        60.0,
        metrics={"inference_events": MetricValue(1000, 1000, 1000)},
        detections=detections,
    )
    [alert] = IncidentEvaluator().evaluate([facts], (detector,))
    assert alert.evidence["detector_events"] == detections
    assert "rate 0.01 ->" not in alert.description and "rate 0.02 ->" not in alert.description
    assert all(d in alert.description for d in detections[2:])
    assert "2 earlier detections in evidence.detector_events" in alert.description


def test_a_pass_that_leaves_outcomes_to_a_later_one_says_they_are_judged_later() -> None:
    """With a feedback delay the drift pass does not feed the outcome rules, even where some
    feedback is in: the page says outcomes are judged later, not that they hold."""
    [alert] = IncidentEvaluator().evaluate(
        [version_facts(0, drifted=True, takeover=0.05)],
        (DRIFT, TAKEOVER),
        observed=lambda rule: rule.signal != "metric",
    )
    assert "outcomes not known yet" in alert.summary
    assert (
        "Outcome evidence: judged later, once MONITOR_FEEDBACK_DELAY has passed"
        in alert.description
    )
