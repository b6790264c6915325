"""The experiment report: one row per metric (and segment) and one summary per experiment.

Input is what the stream keeps, merged: the :class:`~monitor.experiments.stats.Moments` per
(variant, metric, segment) (segment ``""`` is everyone, else ``key=value``) and the count of
assigned units per variant. The mixture parameter of every metric is tuned to the experiment's
planned sample (from the primary metric's minimum detectable effect and its observed variance),
or to :data:`~monitor.experiments.config.DEFAULT_TUNING` without one.

>>> import numpy as np
>>> from monitor.experiments.config import ExperimentSpec
>>> rng = np.random.default_rng(1)
>>> spec = ExperimentSpec("e", "m", "a", "b", guardrails=(), minimum_detectable_effect=0.05)
>>> arms = {("a", "task_completion", ""): Moments.of(rng.binomial(1, .60, 6000)),
...         ("b", "task_completion", ""): Moments.of(rng.binomial(1, .66, 6000))}
>>> rows, summary = experiment_report(spec, arms, {"a": 6000, "b": 6000})
>>> rows[0].significant, summary.decision, summary.srm
(True, 'ship', False)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from monitor.catalogue import experiment_metric
from monitor.experiments.config import DEFAULT_TUNING, ExperimentSpec
from monitor.experiments.decision import Decision, decide, guardrail_harmed
from monitor.experiments.srm import check_srm
from monitor.experiments.stats import Comparison, Moments, compare, planned_sample_size

__all__ = [
    "METRIC_ROW_COLUMNS",
    "RESULT_COLUMNS",
    "SUMMARY_COLUMNS",
    "ExperimentScope",
    "ExperimentSummary",
    "MetricRow",
    "experiment_report",
    "report_dicts",
    "with_scope",
]

ArmKey = tuple[str, str, str]  # (variant, metric, segment)


@dataclass(frozen=True, slots=True)
class MetricRow:
    """Treatment against control on one metric and segment."""

    experiment: str
    metric: str
    segment: str
    control: str
    treatment: str
    n_control: float
    n_treatment: float
    value_control: float
    value_treatment: float
    diff: float
    ci_low: float
    ci_high: float
    lift: float
    lift_ci_low: float
    lift_ci_high: float
    p_value: float
    significant: bool
    guardrail: bool
    harmed: bool
    primary: bool


@dataclass(frozen=True, slots=True)
class ExperimentSummary:
    """The experiment's sample ratio check and decision."""

    experiment: str
    control: str
    treatment: str
    n_control: float
    n_treatment: float
    srm_p_value: float
    srm_sequential_p_value: float
    srm: bool
    decision: str
    reason: str
    remaining_sample: float | None
    tuning: float
    models: tuple[str, ...] = ()
    model_versions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExperimentScope:
    """The models and model versions an experiment's assigned requests ran on (sorted, distinct).

    Both arms' versions are listed together: arms are often versions of one model, so a report is
    never split by version.
    """

    models: tuple[str, ...] = ()
    model_versions: tuple[str, ...] = ()


def with_scope(summary: ExperimentSummary, scope: ExperimentScope | None) -> ExperimentSummary:
    """The summary naming the models and versions of its requests.

    >>> s = ExperimentSummary("e", "a", "b", 1, 1, 1, 1, False, "continue", "", None, 1.0)
    >>> with_scope(s, ExperimentScope(("m",), ("v1", "v2"))).model_versions
    ('v1', 'v2')
    """
    if scope is None:
        return summary
    return replace(summary, models=scope.models, model_versions=scope.model_versions)


#: The one list of experiment report columns: a metric row's, the summary's (``tuning`` is only in
#: the CLI's JSON), and ``experiment_results``'s, in table order. The adapter, the query catalogue,
#: the CLI and the dashboard read these.
METRIC_ROW_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(MetricRow))
SUMMARY_COLUMNS: tuple[str, ...] = tuple(
    f.name for f in fields(ExperimentSummary) if f.name != "tuning"
)
RESULT_COLUMNS: tuple[str, ...] = (
    *METRIC_ROW_COLUMNS,
    *(c for c in SUMMARY_COLUMNS if c not in METRIC_ROW_COLUMNS),
    "updated_at",
)


def _tuning(spec: ExperimentSpec, arms: Mapping[ArmKey, Moments]) -> float:
    control = arms.get((spec.control, spec.primary_metric, ""), Moments())
    treatment = arms.get((spec.treatment, spec.primary_metric, ""), Moments())
    if spec.minimum_detectable_effect is None or control.n < 2 or treatment.n < 2:
        return DEFAULT_TUNING
    pilot = compare(control, treatment, alpha=spec.alpha, kind="mean")
    if not math.isfinite(pilot.variance_per_unit) or pilot.variance_per_unit <= 0:
        return DEFAULT_TUNING
    return planned_sample_size(
        spec.minimum_detectable_effect, pilot.variance_per_unit, spec.alpha, spec.power
    )


def experiment_report(
    spec: ExperimentSpec, arms: Mapping[ArmKey, Moments], assigned: Mapping[str, float]
) -> tuple[list[MetricRow], ExperimentSummary]:
    """Rows for every reported metric and segment with data in both arms, and the summary."""
    tuning = _tuning(spec, arms)
    rows, comparisons = _compare_arms(spec, arms, tuning)
    counts = [float(assigned.get(spec.control, 0.0)), float(assigned.get(spec.treatment, 0.0))]
    srm = check_srm(counts, spec.split)
    decision = _decision(spec, comparisons, counts, srm_mismatch=srm.mismatch)
    hint = _variants_hint(spec, assigned)
    if hint:
        decision = replace(decision, reason=f"{decision.reason}; {hint}")
    summary = ExperimentSummary(
        spec.name,
        spec.control,
        spec.treatment,
        counts[0],
        counts[1],
        srm.p_value,
        srm.sequential_p_value,
        srm.mismatch,
        decision.kind,
        decision.reason,
        decision.remaining_sample,
        tuning,
    )
    return rows, summary


def _variants_hint(spec: ExperimentSpec, assigned: Mapping[str, float]) -> str | None:
    """What to fix when a declared variant has no assigned request but the events carry another
    (``ctrl`` declared as ``control``): the report would otherwise wait for data forever.

    >>> _variants_hint(ExperimentSpec("e", None, "control", "green"), {"blue": 9, "green": 8})
    "no request carries the declared control 'control'; the events' variants are blue, green: check control and treatment in MONITOR_EXPERIMENTS"
    """
    seen = sorted(v for v, n in assigned.items() if n > 0)
    missing = [
        f"{role} {variant!r}"
        for role, variant in (("control", spec.control), ("treatment", spec.treatment))
        if variant not in seen
    ]
    if not missing or set(seen) <= {spec.control, spec.treatment}:
        return None
    return (
        f"no request carries the declared {' nor the declared '.join(missing)}; the events' "
        f"variants are {', '.join(seen)}: check control and treatment in MONITOR_EXPERIMENTS"
    )


def _reported_segments(spec: ExperimentSpec, arms: Mapping[ArmKey, Moments]) -> list[str]:
    """Everyone (``""``) and each segment of a dimension the spec reports (all if it names none)."""
    return sorted(
        {
            seg
            for (_, _, seg) in arms
            if seg == "" or not spec.segments or seg.split("=", 1)[0] in spec.segments
        }
    )


def _compare_arms(
    spec: ExperimentSpec, arms: Mapping[ArmKey, Moments], tuning: float
) -> tuple[list[MetricRow], dict[str, Comparison]]:
    """The metric rows, and each metric's all-traffic comparison (the decision reads those)."""
    margins = {g.metric: g.margin for g in spec.guardrails}
    segments = _reported_segments(spec, arms)
    rows: list[MetricRow] = []
    comparisons: dict[str, Comparison] = {}
    for metric in spec.reported_metrics:
        better = experiment_metric(metric).better
        for segment in segments:
            c = arms.get((spec.control, metric, segment))
            t = arms.get((spec.treatment, metric, segment))
            if c is None or t is None:
                continue
            cuped = spec.covariate is not None and c.sum_x2 > 0
            r = compare(c, t, alpha=spec.alpha, tuning=tuning, cuped=cuped)
            if segment == "":
                comparisons[metric] = r
            is_guardrail = metric in margins
            harmed = is_guardrail and guardrail_harmed(r, better, margins[metric])
            rows.append(_metric_row(spec, metric, segment, r, is_guardrail, harmed))
    return rows, comparisons


def _metric_row(
    spec: ExperimentSpec,
    metric: str,
    segment: str,
    r: Comparison,
    is_guardrail: bool,
    harmed: bool,
) -> MetricRow:
    return MetricRow(
        spec.name,
        metric,
        segment,
        spec.control,
        spec.treatment,
        r.n_control,
        r.n_treatment,
        r.value_control,
        r.value_treatment,
        r.diff,
        r.ci_low,
        r.ci_high,
        r.lift,
        r.lift_ci_low,
        r.lift_ci_high,
        r.p_value,
        r.significant,
        is_guardrail,
        harmed,
        metric == spec.primary_metric,
    )


def _decision(
    spec: ExperimentSpec,
    comparisons: Mapping[str, Comparison],
    counts: list[float],
    *,
    srm_mismatch: bool,
) -> Decision:
    """:func:`decide` on the all-traffic comparisons; without primary data it waits for some,
    unless the sample ratio or a guardrail already says ``invalid`` or ``stop``."""
    primary = comparisons.get(spec.primary_metric)
    guardrails = [
        (g.metric, comparisons[g.metric], experiment_metric(g.metric).better, g.margin)
        for g in spec.guardrails
        if g.metric in comparisons
    ]
    if primary is None:
        decision = decide(_empty(counts), "higher", guardrails, srm_mismatch=srm_mismatch)
        if decision.kind == "continue":
            decision = type(decision)(
                "continue", f"no {spec.primary_metric} observed in both variants yet"
            )
        return decision
    return decide(
        primary,
        experiment_metric(spec.primary_metric).better,
        guardrails,
        srm_mismatch=srm_mismatch,
        mde=spec.minimum_detectable_effect,
        alpha=spec.alpha,
        power=spec.power,
    )


def _empty(counts: list[float]) -> Comparison:
    nan = math.nan
    return Comparison(counts[0], counts[1], nan, nan, nan, nan, nan, 1.0, nan, nan, nan, False, nan)


def report_dicts(rows: list[MetricRow], summary: ExperimentSummary) -> list[dict[str, Any]]:
    """The JSON form: the metric rows, then the summary row (``metric`` null)."""
    out: list[dict[str, Any]] = [asdict(r) for r in rows]
    out.append({**asdict(summary), "metric": None})
    return out
