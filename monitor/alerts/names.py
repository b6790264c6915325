"""The names an alert rule may use, per signal, read from the modules that evaluate them.

``known_rule_names`` is the one place to repoint when the metric catalogue holds these names.

>>> from monitor.alerts.rules import AlertRule
>>> rule_name_problems([AlertRule("x", "metric", "warning", "satisfacton_rate", "below", 0.5)])[0][:59]
"rule 'x': metric 'satisfacton_rate' is not a metric of signal"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from monitor.alerts.rules import AlertRule

__all__ = ["known_rule_names", "rule_name_problems"]


def known_rule_names() -> Mapping[str, tuple[str, ...]]:
    """For each signal, the values its ``metric`` may take (``detector``: detector names)."""
    from monitor.alerts.evaluate import RULE_METRICS
    from monitor.detectors.concept import DETECTOR_NAMES

    return {
        "drift": ("drift_severity",),
        "detector": DETECTOR_NAMES,
        "metric": tuple(RULE_METRICS),
        "data_quality": ("dlq_rate", "late_event_rate", "missing_rate"),
        "latency": ("latency_p95_seconds",),
    }


def rule_name_problems(rules: Iterable[AlertRule]) -> list[str]:
    """One line per rule whose metric or detector name the monitor does not know."""
    known = known_rule_names()
    problems = []
    for rule in rules:
        allowed = known.get(rule.signal, ())
        if rule.metric is None or rule.metric in allowed:
            continue
        what = "detector" if rule.signal == "detector" else f"metric of signal {rule.signal!r}"
        problems.append(f"rule {rule.name!r}: metric {rule.metric!r} is not a {what}; known: {', '.join(allowed)}")
    return problems
