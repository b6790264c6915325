"""The metric catalogue: every metric the monitor computes, declared once.

Folds, the store's SQL, the Prometheus export, alert-rule validation, the deploy checks and the
docs read these tables; nothing else spells a metric name. Adding an outcome metric is one
:class:`OutcomeMetric` entry (with how one inference+feedback pair contributes) plus its test.

"Correct" and "satisfied" are defined here too, once, for baselines, joins, folds and detectors:

>>> correct("True", 1), correct(" Refund ", "refund"), correct("2.0", 2), correct("yes", True)
(True, True, True, False)
>>> satisfied(rating=5, thumbs="down"), satisfied(rating=None, thumbs="up"), satisfied(None, None)
(True, True, None)
>>> outcome_metric("task_completion").rule_metric
'task_completion_rate'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = [
    "DATA_QUALITY_RULE_METRICS",
    "DRIFT_SCORES",
    "KPI_PREFIX",
    "OUTCOME_LABEL",
    "OUTCOME_METRICS",
    "OUTCOME_OBSERVATIONS_SERIES",
    "OUTCOME_POSITIVE_SERIES",
    "SATISFIED_RATING",
    "SHADOW_METRICS",
    "SHADOW_PREFIX",
    "TRAFFIC_RULE_METRIC",
    "WINDOW_METRICS",
    "DriftScore",
    "ExperimentMetric",
    "OutcomeMetric",
    "ShadowMetric",
    "WindowMetric",
    "catalogue_markdown",
    "correct",
    "experiment_metric",
    "experiment_metrics",
    "normalise_answer",
    "outcome_metric",
    "rule_metrics",
    "satisfied",
    "shadow_metric",
    "write_catalogue_docs",
]

SATISFIED_RATING = 4  # a rating of 4 or 5 on the 1-5 scale counts as satisfied
OUTCOME_OBSERVATIONS_SERIES = "monitor_outcome_observations_total"
OUTCOME_POSITIVE_SERIES = "monitor_outcome_positive_total"
OUTCOME_LABEL = "outcome"  # the label of both series whose value is an outcome metric name
LATENCY_SERIES = "monitor_inference_latency_seconds"
QUANTILE_LEVELS = (0.5, 0.95, 0.99)

Answer = float | str


class Pair(Protocol):
    """What a metric reads of one inference joined with its feedback (``JoinedOutcome``)."""

    # Read-only: a frozen dataclass satisfies it.
    @property
    def prediction(self) -> Any: ...

    @property
    def label(self) -> Any: ...

    @property
    def rating(self) -> int | None: ...

    @property
    def thumbs(self) -> str | None: ...

    @property
    def task_completed(self) -> bool | None: ...

    @property
    def human_takeover(self) -> bool | None: ...

    @property
    def bad_case(self) -> bool | None: ...

    @property
    def turns(self) -> int | None: ...

    @property
    def judge_score(self) -> float | None: ...


def normalise_answer(value: Any) -> Answer | None:
    """A prediction or label in the form answers are compared in.

    Booleans and the strings ``true``/``false`` (any case) are the numbers 1 and 0; numbers and
    numeric strings are floats; any other string is stripped and case-folded; ``None`` stays.

    >>> [normalise_answer(v) for v in (True, "FALSE", 1, "1e0", " Yes ", None)]
    [1.0, 0.0, 1.0, 1.0, 'yes', None]
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().casefold()
    if text in ("true", "false"):
        return float(text == "true")
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def correct(prediction: Any, label: Any) -> bool | None:
    """Whether a prediction matches its label after :func:`normalise_answer`; None if either is missing."""
    left, right = normalise_answer(prediction), normalise_answer(label)
    if left is None or right is None:
        return None
    return type(left) is type(right) and left == right


def satisfied(rating: int | None, thumbs: str | None) -> bool | None:
    """A rating of :data:`SATISFIED_RATING` or more; without a rating, thumbs up; else None."""
    if rating is not None:
        return rating >= SATISFIED_RATING
    if thumbs is not None:
        return thumbs == "up"
    return None


def _flag(value: bool | None) -> float | None:
    return None if value is None else float(value)


def _amount(value: float | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class OutcomeMetric:
    """One outcome metric of ``metric_windows``.

    ``value`` gives one pair's contribution (``None``: the pair does not count); a proportion's
    window value is the share of counted pairs with value 1, a mean's the mean of the values. A
    quantile comes from the merged latency histogram of the window's inferences instead.
    ``rule_metric`` is its name in alert rules, whose value is the window value times
    ``rule_scale``; ``inverse_rule_metric`` names ``1 - value`` (proportions only).
    """

    name: str
    kind: Literal["proportion", "mean", "quantile"]
    unit: str
    contribution: str
    rule_metric: str
    description: str
    value: Callable[[Pair], float | None] | None = None
    quantile: float | None = None
    sketch_of: str | None = None
    rule_scale: float = 1.0
    inverse_rule_metric: str | None = None
    rule_signal: Literal["metric", "latency"] = "metric"
    better: Literal["higher", "lower"] = "higher"  # which way is an improvement in an experiment

    @property
    def prometheus_series(self) -> tuple[str, ...]:
        """Series the worker exports for it (proportions: observations and positives per label)."""
        if self.kind == "proportion":
            return (OUTCOME_OBSERVATIONS_SERIES, OUTCOME_POSITIVE_SERIES)
        if self.sketch_of == "latency_ms":
            return (f"{LATENCY_SERIES}_bucket",)
        return ()

    @property
    def prometheus_label(self) -> str | None:
        """The ``outcome`` label value of its series, or None."""
        return self.name if self.kind == "proportion" else None


OUTCOME_METRICS: tuple[OutcomeMetric, ...] = (
    OutcomeMetric(
        "satisfaction",
        "proportion",
        "share",
        "1 when satisfied (rating >= 4, else thumbs up); counted when either is given",
        "satisfaction_rate",
        "Share of rated answers the user was satisfied with.",
        lambda o: _flag(satisfied(o.rating, o.thumbs)),
    ),
    OutcomeMetric(
        "rating",
        "mean",
        "1-5",
        "the rating, when given",
        "mean_rating",
        "Mean user rating.",
        lambda o: _amount(o.rating),
    ),
    OutcomeMetric(
        "task_completion",
        "proportion",
        "share",
        "task_completed as 1 or 0, when given",
        "task_completion_rate",
        "Share of tasks the assistant completed.",
        lambda o: _flag(o.task_completed),
    ),
    OutcomeMetric(
        "human_takeover",
        "proportion",
        "share",
        "human_takeover as 1 or 0, when given",
        "human_takeover_rate",
        "Share of conversations a human had to take over.",
        lambda o: _flag(o.human_takeover),
        better="lower",
    ),
    OutcomeMetric(
        "bad_case",
        "proportion",
        "share",
        "bad_case as 1 or 0, when given",
        "bad_case_rate",
        "Share of answers flagged as bad cases.",
        lambda o: _flag(o.bad_case),
        better="lower",
    ),
    OutcomeMetric(
        "turns",
        "mean",
        "turns",
        "turns, when given",
        "mean_turns",
        "Mean conversation length in turns.",
        lambda o: _amount(o.turns),
        better="lower",
    ),
    OutcomeMetric(
        "judge_score",
        "mean",
        "0-10",
        "judge_score, when given",
        "judge_score",
        "Mean LLM-judge score.",
        lambda o: _amount(o.judge_score),
    ),
    OutcomeMetric(
        "accuracy",
        "proportion",
        "share",
        "1 when the prediction is correct for the label; counted when both are given",
        "accuracy",
        "Share of labelled predictions that are correct.",
        lambda o: _flag(correct(o.prediction, o.label)),
        inverse_rule_metric="error_rate",
    ),
    *(
        OutcomeMetric(
            f"latency_p{round(q * 100)}_ms",
            "quantile",
            "ms",
            "the inference's latency_ms, into a DDSketch",
            f"latency_p{round(q * 100)}_seconds",
            f"{q:.0%} quantile of producer-reported latency (0.5 % error).",
            quantile=q,
            sketch_of="latency_ms",
            rule_scale=0.001,
            rule_signal="latency",
            better="lower",
        )
        for q in QUANTILE_LEVELS
    ),
    *(
        OutcomeMetric(
            f"{tokens}_p{round(q * 100)}",
            "quantile",
            "tokens",
            f"the inference's usage.{tokens}, into a DDSketch",
            f"{tokens}_p{round(q * 100)}",
            f"{q:.0%} quantile of usage.{tokens} (0.5 % error).",
            quantile=q,
            sketch_of=tokens,
            better="lower",
        )
        for tokens in ("input_tokens", "output_tokens")
        for q in QUANTILE_LEVELS
    ),
)


@dataclass(frozen=True, slots=True)
class WindowMetric:
    """A per-window count or mean of accepted events (``metric_windows`` rows without intervals)."""

    name: str
    kind: Literal["count", "mean"]
    unit: str
    description: str
    better: Literal["higher", "lower"] = "lower"  # for the means an experiment compares


WINDOW_METRICS: tuple[WindowMetric, ...] = (
    WindowMetric("inference_events", "count", "events", "Inference events merged into the window."),
    WindowMetric("feedback_events", "count", "events", "Feedback events merged into the window."),
    WindowMetric("late_inference_events", "count", "events", "Inference events too late to merge."),
    WindowMetric("late_feedback_events", "count", "events", "Feedback events too late to merge."),
    WindowMetric("latency_ms", "mean", "ms", "Mean producer-reported latency."),
    WindowMetric("input_tokens", "mean", "tokens", "Mean usage.input_tokens."),
    WindowMetric("output_tokens", "mean", "tokens", "Mean usage.output_tokens."),
)


@dataclass(frozen=True, slots=True)
class DriftScore:
    """One per-feature score of ``drift_windows``, its Prometheus gauge and its rule metric."""

    name: str
    prometheus_series: str | None
    rule_metric: str | None
    description: str


DRIFT_SCORES: tuple[DriftScore, ...] = (
    DriftScore(
        "psi", "monitor_drift_psi", None, "Population stability index against the baseline."
    ),
    DriftScore("kl", "monitor_drift_kl", None, "KL(current ‖ reference), natural log."),
    DriftScore("js", "monitor_drift_js_distance", None, "Jensen-Shannon distance, base 2 (0-1)."),
    DriftScore(
        "severity",
        "monitor_drift_severity",
        "drift_severity",
        "0 none, 1 moderate, 2 significant, from PSI and the thresholds.",
    ),
    DriftScore(
        "missing_rate", None, "missing_rate", "Share of the feature's values that are missing."
    ),
    DriftScore(
        "type_violation_rate", None, None, "Share of values of the wrong type for the feature."
    ),
    DriftScore(
        "out_of_range_rate", None, None, "Share of numeric values outside the reference range."
    ),
)

KPI_PREFIX = (
    "kpi."  # experiment metric of a feedback KPI: kpi.<name>, a per-variant mean, higher is better
)


@dataclass(frozen=True, slots=True)
class ExperimentMetric:
    """A metric an A/B experiment can compare: a proportion or mean per variant, and its good direction."""

    name: str
    kind: Literal["proportion", "mean"]
    better: Literal["higher", "lower"]
    source: Literal["outcome", "inference", "kpi"]


def experiment_metrics() -> tuple[ExperimentMetric, ...]:
    """Outcome proportions and means, then the inference means (latency, tokens); KPIs come on top.

    >>> [m.name for m in experiment_metrics()][-3:]
    ['latency_ms', 'input_tokens', 'output_tokens']
    """
    return (
        *(
            ExperimentMetric(m.name, m.kind, m.better, "outcome")
            for m in OUTCOME_METRICS
            if m.kind in ("proportion", "mean")
        ),
        *(
            ExperimentMetric(w.name, "mean", w.better, "inference")
            for w in WINDOW_METRICS
            if w.kind == "mean"
        ),
    )


def experiment_metric(name: str) -> ExperimentMetric:
    """The experiment metric called ``name`` (``kpi.<name>`` for any KPI); a ``KeyError`` lists the names.

    >>> experiment_metric("human_takeover").better, experiment_metric("kpi.revenue").source
    ('lower', 'kpi')
    """
    if name.startswith(KPI_PREFIX) and len(name) > len(KPI_PREFIX):
        return ExperimentMetric(name, "mean", "higher", "kpi")
    for metric in experiment_metrics():
        if metric.name == name:
            return metric
    known = ", ".join(m.name for m in experiment_metrics())
    raise KeyError(
        f"experiment metric {name!r} is not one of {known}, or {KPI_PREFIX}<name> for a KPI"
    )


SHADOW_PREFIX = (
    "shadow:"  # partials of shadow traffic and of production/shadow pairs (monitor.shadow)
)


@dataclass(frozen=True, slots=True)
class ShadowMetric:
    """A per-pair comparison of a shadow answer with production's: its paired value and good direction.

    ``reference`` is production's value of the same quantity (a production answer agrees with
    itself), so the paired difference is ``value - reference``; ``margin`` is the default
    non-inferiority margin, ``None`` when the metric is reported but not judged by default.
    """

    name: str
    better: Literal["higher", "lower"]
    reference: float
    margin: float | None
    unit: str
    description: str


SHADOW_METRICS: tuple[ShadowMetric, ...] = (
    ShadowMetric(
        "agreement",
        "higher",
        1.0,
        None,
        "share",
        "1 when the normalised answers (predictions if both have one, else output texts) are equal.",
    ),
    ShadowMetric(
        "similarity",
        "higher",
        1.0,
        None,
        "0-1",
        "Character 3-gram Jaccard similarity of the normalised output texts; pairs where both answered.",
    ),
    ShadowMetric(
        "semantic_similarity",
        "higher",
        1.0,
        None,
        "cosine",
        "Cosine of the output texts' embeddings (MONITOR_EMBEDDER), on the embedding sample of pairs.",
    ),
    ShadowMetric(
        "error_rate",
        "lower",
        0.0,
        0.01,
        "share",
        "Shadow error (0/1) minus production error (0/1).",
    ),
    ShadowMetric(
        "latency_ms", "lower", 0.0, 100.0, "ms", "Shadow latency minus production latency."
    ),
    ShadowMetric(
        "output_tokens", "lower", 0.0, None, "tokens", "Shadow output tokens minus production's."
    ),
    ShadowMetric(
        "length_chars", "lower", 0.0, None, "characters", "Shadow output length minus production's."
    ),
)


def shadow_metric(name: str) -> ShadowMetric:
    """The shadow metric called ``name``; a ``KeyError`` lists the names.

    >>> shadow_metric("latency_ms").margin
    100.0
    """
    for metric in SHADOW_METRICS:
        if metric.name == name:
            return metric
    raise KeyError(
        f"shadow metric {name!r} is not one of {', '.join(m.name for m in SHADOW_METRICS)}"
    )


# Data-quality rule metrics besides the drift scores: judged from the windows or by Prometheus.
DATA_QUALITY_RULE_METRICS = ("late_event_rate", "dlq_rate")
# The traffic rule metric: a window's inference events / the recent mean (monitor.alerts.traffic).
TRAFFIC_RULE_METRIC = "traffic_ratio"


def outcome_metric(name: str) -> OutcomeMetric:
    """The catalogue entry of an outcome metric; a ``KeyError`` lists the known names."""
    for metric in OUTCOME_METRICS:
        if metric.name == name:
            return metric
    raise KeyError(
        f"outcome metric {name!r} is not one of {', '.join(m.name for m in OUTCOME_METRICS)}"
    )


def rule_metrics(signal: str) -> dict[str, tuple[str, float, bool]]:
    """Rule metric names a ``signal`` accepts -> (window metric, scale, inverted).

    >>> rule_metrics("latency")
    {'latency_p50_seconds': ('latency_p50_ms', 0.001, False), \
'latency_p95_seconds': ('latency_p95_ms', 0.001, False), \
'latency_p99_seconds': ('latency_p99_ms', 0.001, False)}
    >>> rule_metrics("metric")["error_rate"]
    ('accuracy', 1.0, True)
    """
    out: dict[str, tuple[str, float, bool]] = {}
    if signal in ("metric", "latency"):
        for m in OUTCOME_METRICS:
            if m.rule_signal == signal:
                out[m.rule_metric] = (m.name, m.rule_scale, False)
                if m.inverse_rule_metric:
                    out[m.inverse_rule_metric] = (m.name, m.rule_scale, True)
    elif signal in ("drift", "data_quality"):
        for score in DRIFT_SCORES:
            if score.rule_metric and (score.name == "severity") == (signal == "drift"):
                out[score.rule_metric] = (score.name, 1.0, False)
        if signal == "data_quality":
            out.update({name: (name, 1.0, False) for name in DATA_QUALITY_RULE_METRICS})
    elif signal == "traffic":
        out[TRAFFIC_RULE_METRIC] = ("inference_events", 1.0, False)
    return out


def catalogue_markdown() -> str:
    """The outcome and drift tables of docs/outcomes.md, rendered from the catalogue."""
    lines = [
        "| metric | kind | unit | a pair contributes | rule metric | Prometheus | meaning |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in OUTCOME_METRICS:
        rule = f"`{m.rule_metric}`" + (
            f", `{m.inverse_rule_metric}` (1 − value)" if m.inverse_rule_metric else ""
        )
        if m.prometheus_label:
            series = f'`{OUTCOME_POSITIVE_SERIES}` / `{OUTCOME_OBSERVATIONS_SERIES}` `{{{OUTCOME_LABEL}="{m.name}"}}`'
        elif m.prometheus_series:
            series = f"`{m.prometheus_series[0]}`"
        else:
            series = "–"
        lines.append(
            f"| `{m.name}` | {m.kind} | {m.unit} | {m.contribution} | {rule} | {series} | {m.description} |"
        )
    lines += ["", "| drift score | rule metric | Prometheus | meaning |", "|---|---|---|---|"]
    for s in DRIFT_SCORES:
        lines.append(
            f"| `{s.name}` | {f'`{s.rule_metric}`' if s.rule_metric else '–'} | "
            f"{f'`{s.prometheus_series}`' if s.prometheus_series else '–'} | {s.description} |"
        )
    return "\n".join(lines) + "\n"


def write_catalogue_docs(path: str) -> bool:
    """Replace the table between the ``catalogue`` markers of a Markdown file; True if it changed."""
    from pathlib import Path

    doc = Path(path)
    text = doc.read_text()
    head, rest = text.split("<!-- catalogue:start -->\n", 1)
    _, tail = rest.split("<!-- catalogue:end -->", 1)
    updated = f"{head}<!-- catalogue:start -->\n{catalogue_markdown()}<!-- catalogue:end -->{tail}"
    doc.write_text(updated)
    return updated != text


if __name__ == "__main__":  # python -m monitor.catalogue: refresh the table in docs/outcomes.md
    print(
        "docs/outcomes.md", "updated" if write_catalogue_docs("docs/outcomes.md") else "unchanged"
    )
