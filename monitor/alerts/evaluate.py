"""Turn each closed window's facts into incidents: one alert per model version and incident.

Rules decide which signals breach (each with its own ``for_windows``, ``min_samples`` and
cooldown, tracked by :class:`AlertTracker` in event time). While any rule of a model version is
firing, that version has one open incident: it fires once, with the decision table's
recommendation, and resolves when every rule is clear.

>>> from monitor.alerts.rules import AlertRule
>>> rule = AlertRule("takeover", "metric", "warning", "human_takeover_rate", "above", 0.2, min_samples=10)
>>> facts = WindowFacts("m", "v1", 0.0, 60.0, metrics={"human_takeover": MetricValue(0.5, 20, 40, 0.35, 0.65)})
>>> [a.status for a in IncidentEvaluator().evaluate([facts], (rule,))]
['firing']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.alerts.actions import (
    MetricEvidence,
    Recommendation,
    Signals,
    more_urgent,
    recommend,
)
from monitor.alerts.rules import AlertRule
from monitor.alerts.state import Alert, AlertTracker
from monitor.alerts.traffic import Traffic
from monitor.catalogue import rule_metrics

__all__ = ["RULE_METRICS", "Comparison", "IncidentEvaluator", "MetricValue", "WindowFacts"]

# Rule metric names of metric and latency rules -> metric_windows metric names (from the catalogue).
RULE_METRICS = {
    name: spec[0] for signal in ("metric", "latency") for name, spec in rule_metrics(signal).items()
}
SEVERITY_ORDER = ("info", "warning", "critical")


@dataclass(frozen=True)
class MetricValue:
    value: float
    numerator: float
    count: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Comparison:
    value: float
    reference_value: float
    difference: float
    diff_low: float
    diff_high: float
    p_value: float


@dataclass(frozen=True)
class WindowFacts:
    """What the store knows about one model version in one closed window."""

    model: str
    model_version: str
    window_start: float
    window_end: float
    metrics: Mapping[str, MetricValue] = field(default_factory=dict)
    comparisons: Mapping[tuple[str, str], Comparison] = field(
        default_factory=dict
    )  # (metric, reference)
    drift: Sequence[
        tuple[str, float, str, int, float]
    ] = ()  # feature, psi, severity, n_current, missing_rate
    detections: Sequence[str] = ()
    late_events: float = 0.0
    first_seen: float | None = None
    previous_version: str | None = None
    database: str = "monitor"
    drift_events: tuple[int, int] | None = (
        None  # (events drift was scored on, the window's inference events)
    )
    traffic: Traffic | None = (
        None  # inference events against the recent rate (monitor.alerts.traffic)
    )
    drift_details: Mapping[str, str] = field(default_factory=dict)  # feature -> what moved


def _metric_value(rule: AlertRule, facts: WindowFacts) -> tuple[float | None, float | None, float]:
    """(value, reference, samples) of a metric or latency rule in this window."""
    spec = rule_metrics(rule.signal).get(rule.metric or "")
    found = facts.metrics.get(spec[0]) if spec else None
    if spec is None or found is None:
        return None, None, 0
    name, scale, inverted = spec

    def as_rule_value(value: float) -> float:
        return (1 - value if inverted else value) * scale

    comparison = None
    if rule.relative_to == "previous_version" and facts.previous_version:
        comparison = facts.comparisons.get((name, f"version:{facts.previous_version}"))
    elif rule.relative_to == "baseline":
        comparison = facts.comparisons.get((name, "baseline"))
    reference = None if comparison is None else as_rule_value(comparison.reference_value)
    return as_rule_value(found.value), reference, found.count


def rule_observation(rule: AlertRule, facts: WindowFacts) -> tuple[bool, float]:
    """(breached, samples) of ``rule`` in this window; samples 0 when the rule has no data here."""
    if rule.signal == "drift":
        rows = [r for r in facts.drift if rule.feature in (None, r[0]) and r[2] != "insufficient"]
        if not rows:
            return False, 0
        worst = max(("none", "moderate", "significant").index(r[2]) for r in rows)
        return rule.breached(float(worst)), max(r[3] for r in rows)
    if (
        rule.signal == "detector"
    ):  # ``metric`` optionally names the detector (adwin, page_hinkley, ...)
        samples = facts.metrics.get("inference_events", MetricValue(0, 0, 0)).count
        found = [d for d in facts.detections if rule.metric is None or f"/{rule.metric}:" in d]
        return bool(found), samples
    if (
        rule.signal == "traffic"
    ):  # a window with no events is evidence too, once the version is expected
        traffic = facts.traffic
        if traffic is None:
            return False, 0
        ratio = traffic.ratio
        if ratio is None:  # no recent rate: events seen are evidence that traffic flows
            return False, traffic.observed
        return rule.breached(ratio), max(traffic.expected, traffic.observed)
    if rule.signal == "data_quality":
        if rule.metric == "missing_rate":
            rows = [r for r in facts.drift if rule.feature in (None, r[0])]
            return (
                (rule.breached(max(r[4] for r in rows)), max(r[3] for r in rows))
                if rows
                else (False, 0)
            )
        if rule.metric == "late_event_rate":
            events = (
                facts.metrics.get("inference_events", MetricValue(0, 0, 0)).count
                + facts.late_events
            )
            return (rule.breached(facts.late_events / events), events) if events else (False, 0)
        return False, 0  # e.g. dlq_rate: evaluated by Prometheus (deploy/prometheus/rules)
    value, reference, samples = _metric_value(rule, facts)
    if value is None:
        return False, 0
    return rule.breached(value, reference), samples


def _evidence(rule: AlertRule, facts: WindowFacts) -> MetricEvidence | None:
    name = RULE_METRICS.get(rule.metric or "", rule.metric or "")
    found = facts.metrics.get(name)
    if found is None:
        return None
    reference_name = (
        f"version:{facts.previous_version}"
        if rule.relative_to == "previous_version"
        else "baseline"
        if rule.relative_to == "baseline"
        else None
    )
    comparison = facts.comparisons.get((name, reference_name)) if reference_name else None
    if comparison is None and facts.previous_version:
        reference_name = f"version:{facts.previous_version}"
        comparison = facts.comparisons.get((name, reference_name))
    return MetricEvidence(
        name,
        found.value,
        found.low if found.low is not None else found.value,
        found.high if found.high is not None else found.value,
        int(found.numerator),
        int(found.count),
        comparison.reference_value if comparison else None,
        reference_name if comparison else None,
        comparison.difference if comparison else None,
        comparison.diff_low if comparison else None,
        comparison.diff_high if comparison else None,
    )


def _drifted_features(facts: WindowFacts) -> tuple[tuple[str, float, str], ...]:
    """``(feature, psi, severity)`` of the moderately or significantly drifted features, largest
    PSI first."""
    return tuple(
        sorted(
            (
                (f, psi, sev)
                for f, psi, sev, _, _ in facts.drift
                if sev in ("moderate", "significant")
            ),
            key=lambda r: -r[1],
        )
    )


def _outcome_samples(facts: WindowFacts, rules: Sequence[AlertRule]) -> tuple[int, int] | None:
    """(most observations an outcome rule has in this window, fewest its outcome rules need), or
    None without outcome rules: below the need, nothing can be said about outcomes yet."""
    outcome_rules = [r for r in rules if r.judges_outcomes]
    if not outcome_rules:
        return None
    seen = max(int(rule_observation(r, facts)[1]) for r in outcome_rules)
    return seen, min(r.min_samples for r in outcome_rules)


def _incident_signals(
    facts: WindowFacts,
    breached: Sequence[AlertRule],
    rules: Sequence[AlertRule] = (),
    outcomes_later: bool = False,
) -> Signals:
    """What the decision table diagnoses from: the window's facts, the rules breached in it and
    whether its outcome rules had enough feedback to judge (``rules``), or judge it in a later
    pass (``outcomes_later``)."""
    metric_rules = [r for r in breached if r.signal == "metric"]
    evidence = tuple(e for e in (_evidence(r, facts) for r in metric_rules) if e is not None)
    drifted = _drifted_features(facts)
    return Signals(
        facts.model,
        facts.model_version,
        facts.window_start,
        facts.window_end,
        drifted_features=drifted,
        outcome_degraded=bool(metric_rules),
        degraded_metrics=evidence,
        detector_events=tuple(facts.detections)
        if any(r.signal == "detector" for r in breached)
        else (),
        data_quality_breach=any(r.signal == "data_quality" for r in breached),
        data_quality_evidence=tuple(
            f"{r.name}: {r.description}" for r in breached if r.signal == "data_quality"
        ),
        latency_regression=any(r.signal == "latency" for r in breached),
        new_version_since=facts.first_seen,
        previous_version=facts.previous_version,
        database=facts.database,
        drift_details=tuple(
            f"{f}: {facts.drift_details[f]}" for f, _, _ in drifted if facts.drift_details.get(f)
        ),
        traffic_drop=any(r.signal == "traffic" for r in breached),
        outcome_samples=_outcome_samples(facts, rules),
        outcomes_later=outcomes_later,
    )


def _incident_evidence(
    recommendation: Recommendation,
    facts: WindowFacts,
    firing: Sequence[AlertRule],
    breached: Sequence[AlertRule],
) -> dict[str, Any]:
    """The recommendation's evidence plus the rules firing and breached, the traffic and the
    drift window."""
    evidence_doc: dict[str, Any] = dict(recommendation.evidence)
    evidence_doc["rules"] = [r.name for r in firing]
    evidence_doc["breached"] = [r.name for r in breached]
    if facts.traffic is not None:
        evidence_doc["traffic"] = facts.traffic.to_evidence()
    if facts.drift_events is not None:
        scored_on, events = facts.drift_events
        evidence_doc["drift_window"] = {
            "n_current": scored_on,
            "n_events": events,
            "partial": scored_on != events,
        }
    return evidence_doc


def _incident_description(recommendation: Recommendation, facts: WindowFacts) -> str:
    """The recommendation's description, with a note when drift was scored on a partial window."""
    description = recommendation.description
    if facts.drift_events is not None:
        scored_on, events = facts.drift_events
        if scored_on != events:
            description += (
                f"\nDrift was scored on a partial window: {scored_on} of its {events} events."
            )
    return description


def _escalates(alert: Alert, current: Alert) -> bool:
    """Whether ``alert`` (this window's diagnosis) supersedes the open incident's ``current``: a
    more urgent action. A rule that only adds severity to the same action joins the incident."""
    return more_urgent(alert.recommended_action, current.recommended_action)


class IncidentEvaluator:
    """Rule trackers plus the open incident of each model version; state survives via to_state."""

    def __init__(
        self,
        tracker: AlertTracker | None = None,
        open_incidents: dict[str, Alert] | None = None,
        recent_version_seconds: float = 86400,
    ) -> None:
        self.tracker = tracker or AlertTracker()
        self.open: dict[str, Alert] = open_incidents or {}
        self.recent_version_seconds = recent_version_seconds
        self.rules_seen: tuple[AlertRule, ...] = ()
        self._outcomes_later = False  # this pass leaves the outcome rules to a later one

    def evaluate(
        self,
        windows: Sequence[WindowFacts],
        rules: Sequence[AlertRule],
        observed: Callable[[AlertRule], bool] | None = None,
    ) -> list[Alert]:
        """Feed windows in time order; return the alerts that fire or resolve. With ``observed``,
        only those rules count these windows (the others judge them in another pass: outcome rules
        later, once late feedback is in); every rule's breach still informs the diagnosis."""
        out = []
        self.rules_seen = tuple(rules)
        outcome_rules = [r for r in rules if r.judges_outcomes]
        self._outcomes_later = observed is not None and not any(map(observed, outcome_rules))
        for facts in sorted(windows, key=lambda f: (f.window_start, f.model, f.model_version)):
            key = (facts.model, facts.model_version)
            breaches = {}
            for rule in rules:
                breached, samples = rule_observation(rule, facts)
                if observed is None or observed(rule):
                    self.tracker.observe(rule, key, breached, int(samples), facts.window_end)
                # fewer observations than the rule needs are no evidence, to page or to diagnose
                breaches[rule.name] = breached and samples >= rule.min_samples
            firing = [r for r in rules if self.tracker.is_firing(r, key)]
            incident = f"{facts.model}\x1f{facts.model_version}"
            if firing:
                out += self._fire_or_escalate(incident, facts, firing, breaches)
            elif incident in self.open:
                out.append(self.open.pop(incident).resolved(facts.window_end))
        return out

    def _fire_or_escalate(
        self,
        incident: str,
        facts: WindowFacts,
        firing: Sequence[AlertRule],
        breaches: Mapping[str, bool],
    ) -> list[Alert]:
        """Open the version's incident, or escalate the open one: when this window's diagnosis
        is a more urgent row of the decision table, a new alert fires and the old one resolves,
        superseded: ``resolution`` ``superseded``, ``evidence.superseded_by`` naming the new one
        (when both have one alertname, the new alert alone: a receiver updates it)."""
        alert = self._fire(facts, firing, breaches)
        current = self.open.get(incident)
        if alert is None or (current is not None and not _escalates(alert, current)):
            return []
        self.open[incident] = alert
        if current is None or current.fingerprint == alert.fingerprint:
            return [alert]
        return [current.superseded(alert, facts.window_end), alert]

    def _fire(
        self, facts: WindowFacts, firing: Sequence[AlertRule], breaches: Mapping[str, bool]
    ) -> Alert | None:
        # Rules decide *whether* to page; the diagnosis uses every signal breached in this window.
        breached = [r for r in self.rules_seen if breaches.get(r.name)] or list(firing)
        signals = _incident_signals(facts, breached, self.rules_seen, self._outcomes_later)
        recommendation = recommend(signals, recent_version_seconds=self.recent_version_seconds)
        if recommendation is None:
            return None
        lead = max(firing, key=lambda r: SEVERITY_ORDER.index(r.severity))
        return Alert.firing(
            lead.name,
            lead.severity,
            facts.model,
            facts.model_version,
            facts.window_end,
            recommendation.summary,
            description=_incident_description(recommendation, facts),
            recommended_action=recommendation.action,
            evidence=_incident_evidence(recommendation, facts, firing, breached),
            runbook_url=lead.runbook_url,
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "tracker": self.tracker.to_state(),
            "open": {k: a.to_dict() for k, a in self.open.items()},
        }

    @classmethod
    def from_state(
        cls, state: Mapping[str, Any], recent_version_seconds: float = 86400
    ) -> IncidentEvaluator:
        open_incidents = {k: Alert.from_dict(v) for k, v in state.get("open", {}).items()}
        return cls(
            AlertTracker.from_state(state.get("tracker", {})),
            open_incidents,
            recent_version_seconds,
        )
