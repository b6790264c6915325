"""IncidentEvaluator: evidence of a partial drift window."""

from __future__ import annotations

from monitor.alerts.evaluate import IncidentEvaluator, WindowFacts
from monitor.alerts.rules import AlertRule

DRIFT = AlertRule("drift", "drift", "warning", "drift_severity", "above", 1.5, min_samples=100)


def drift_facts(scored_on: int, events: int) -> WindowFacts:
    return WindowFacts("m", "v1", 0.0, 60.0, drift=[("x", 0.6, "significant", scored_on, 0.0)],
                       drift_events=(scored_on, events))


def test_a_drift_alert_on_a_partial_window_says_so_in_its_evidence_and_description() -> None:
    [alert] = IncidentEvaluator().evaluate([drift_facts(300, 350)], (DRIFT,))
    assert alert.evidence["drift_window"] == {"n_current": 300, "n_events": 350, "partial": True}
    assert "partial window: 300 of its 350 events" in alert.description


def test_a_whole_window_is_not_marked_partial() -> None:
    [alert] = IncidentEvaluator().evaluate([drift_facts(350, 350)], (DRIFT,))
    assert alert.evidence["drift_window"]["partial"] is False
    assert "partial" not in alert.description
