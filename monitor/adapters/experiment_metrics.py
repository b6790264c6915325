"""Prometheus series of A/B experiment reports (docs/experiments.md), set by the leader."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Gauge

from monitor.adapters.gauges import remove_matching, set_or_remove
from monitor.experiments.decision import DECISIONS
from monitor.experiments.report import ExperimentSummary, MetricRow

__all__ = ["ExperimentMetrics"]

Report = tuple[Iterable[MetricRow], ExperimentSummary]


class ExperimentMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.assigned = Gauge(
            "monitor_experiment_assigned",
            "Requests assigned to a variant",
            ["experiment", "variant"],
            registry=r,
        )
        xm = ("experiment", "metric")
        self.diff = Gauge(
            "monitor_experiment_diff", "Treatment minus control, all traffic", xm, registry=r
        )
        self.ci_low = Gauge(
            "monitor_experiment_ci_low", "Lower end of the always-valid interval", xm, registry=r
        )
        self.ci_high = Gauge(
            "monitor_experiment_ci_high", "Upper end of the always-valid interval", xm, registry=r
        )
        self.p_value = Gauge("monitor_experiment_p_value", "Always-valid p-value", xm, registry=r)
        self.srm_p_value = Gauge(
            "monitor_experiment_srm_p_value",
            "Sequential sample-ratio-mismatch p-value",
            ["experiment"],
            registry=r,
        )
        self.decision = Gauge(
            "monitor_experiment_decision",
            "1 for the current decision, else 0",
            ["experiment", "decision"],
            registry=r,
        )
        self._per_metric = (self.diff, self.ci_low, self.ci_high, self.p_value)

    def set_report(self, rows: Iterable[MetricRow], summary: ExperimentSummary) -> None:
        """Export one experiment report (its all-traffic metric rows and summary); a NaN value
        removes its series, and so does a metric or variant of this experiment the report no
        longer has, so an earlier report's value is not exported as current."""
        self._export([(rows, summary)], only=summary.experiment)

    def set_reports(self, reports: Iterable[Report]) -> None:
        """Export one refresh's reports as :meth:`set_report` does; an experiment no longer
        reported (its partials deleted, by a retention TTL or a clean-up) loses every series."""
        self._export(reports, only=None)

    def _export(self, reports: Iterable[Report], only: str | None) -> None:
        """Set the reports' series, then remove every other (of experiment ``only`` if named)."""
        gauges = (self.assigned, self.srm_p_value, self.decision, *self._per_metric)
        kept: dict[Gauge, set[tuple[str, ...]]] = {gauge: set() for gauge in gauges}
        for rows, summary in reports:
            for gauge, labels, value in self._values(rows, summary):
                set_or_remove(gauge, labels, value)
                kept[gauge].add(labels)
        for gauge, shown in kept.items():  # one pass over each gauge's series
            remove_matching(gauge, _not_shown(shown, only))

    def _values(
        self, rows: Iterable[MetricRow], summary: ExperimentSummary
    ) -> Iterator[tuple[Gauge, tuple[str, ...], float]]:
        x = summary.experiment
        yield self.assigned, (x, summary.control), summary.n_control
        yield self.assigned, (x, summary.treatment), summary.n_treatment
        yield self.srm_p_value, (x,), summary.srm_sequential_p_value
        for decision in DECISIONS:
            yield self.decision, (x, decision), float(decision == summary.decision)
        for row in rows:
            if row.segment:  # all traffic only
                continue
            values = (row.diff, row.ci_low, row.ci_high, row.p_value)
            for gauge, value in zip(self._per_metric, values):
                yield gauge, (x, row.metric), value


def _not_shown(shown: set[tuple[str, ...]], only: str | None) -> Callable[[Sequence[str]], bool]:
    """Whether a series' label values are not in ``shown`` (and of experiment ``only`` if named)."""
    return lambda labels: (only is None or labels[0] == only) and tuple(labels) not in shown
