"""Traffic against the recent rate, and the traffic-drop rule through the incident evaluator."""

from __future__ import annotations

from monitor.alerts.evaluate import IncidentEvaluator, WindowFacts
from monitor.alerts.rules import default_rules
from monitor.alerts.traffic import RECENT_WINDOWS, Traffic, window_traffic

W = 60
RULES = tuple(r for r in default_rules() if r.signal == "traffic")


def test_expected_is_the_mean_of_the_recent_windows_since_the_version_appeared() -> None:
    counts = {("m", "v1"): {float(w * W): 100.0 + w for w in range(30)}}
    recent = [100.0 + w for w in range(30 - RECENT_WINDOWS, 30)]
    t = window_traffic(counts, {("m", "v1"): 0.0}, 30.0 * W, W)[("m", "v1")]
    assert (t.observed, t.expected) == (0.0, sum(recent) / RECENT_WINDOWS)
    young = window_traffic({("m", "v2"): {0.0: 40.0, 60.0: 20.0}}, {("m", "v2"): 0.0}, 120.0, W)[
        ("m", "v2")
    ]
    assert young.expected == 30.0  # two windows of history, not twelve
    quiet = {("m", "v1"): {0.0: 100.0}}  # thirteen empty windows later it is no longer expected
    assert window_traffic(quiet, {("m", "v1"): 0.0}, (RECENT_WINDOWS + 1.0) * W, W) == {}


def test_traffic_moving_to_another_version_of_the_model_is_not_a_drop() -> None:
    counts = {("m", "v1"): {0.0: 100.0, 60.0: 100.0}, ("m", "v2"): {60.0: 5.0, 120.0: 104.0}}
    first = {("m", "v1"): 0.0, ("m", "v2"): 60.0}
    traffic = window_traffic(counts, first, 120.0, W)
    assert traffic[("m", "v1")].observed == 0.0 and traffic[("m", "v1")].ratio > 0.9
    assert Traffic(0.0, 100.0, 0.0, 100.0).ratio == 0.0


def facts(window: int, traffic: Traffic | None) -> WindowFacts:
    return WindowFacts("m", "v1", float(window * W), float(window * W + W), traffic=traffic)


def test_zero_events_page_with_the_serving_path_action_and_traffic_back_resolves() -> None:
    evaluator = IncidentEvaluator()
    assert evaluator.evaluate([facts(1, Traffic(120.0, 100.0, 120.0, 100.0))], RULES) == []
    [fired] = evaluator.evaluate([facts(2, Traffic(0.0, 110.0, 0.0, 110.0))], RULES)
    assert (fired.status, fired.recommended_action, fired.severity) == (
        "firing",
        "check_serving_path",
        "critical",
    )
    assert (
        fired.evidence["traffic"]["observed_events"] == 0.0
        and fired.evidence["traffic"]["ratio"] == 0.0
    )
    assert "producer" in fired.summary and "serving path" in fired.summary
    # many quiet windows later nothing is expected any more; the incident stays open until traffic returns
    assert evaluator.evaluate([facts(20, Traffic(0.0, 0.0, 0.0, 0.0))], RULES) == []
    [resolved] = evaluator.evaluate([facts(30, Traffic(95.0, 0.0, 95.0, 0.0))], RULES)
    assert resolved.status == "resolved" and resolved.fingerprint == fired.fingerprint


def test_a_quiet_version_does_not_page() -> None:
    evaluator = IncidentEvaluator()
    assert (
        evaluator.evaluate([facts(2, Traffic(0.0, 20.0, 0.0, 20.0))], RULES) == []
    )  # below min_samples
    assert (
        evaluator.evaluate([facts(3, Traffic(30.0, 100.0, 30.0, 100.0))], RULES) == []
    )  # 30 %: not "far below"
