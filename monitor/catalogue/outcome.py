"""The outcome metrics: how one inference joined with its feedback counts in a window, declared once.

Each :class:`OutcomeMetric` names its contribution per pair, its rule metric and the Prometheus
series the worker exports for it.

>>> outcome_metric("task_completion").rule_metric
'task_completion_rate'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from monitor.catalogue.answers import correct, satisfied

__all__ = [
    "LATENCY_SERIES",
    "OUTCOME_LABEL",
    "OUTCOME_METRICS",
    "OUTCOME_OBSERVATIONS_SERIES",
    "OUTCOME_POSITIVE_SERIES",
    "QUANTILE_LEVELS",
    "QUANTILE_METRICS",
    "QUANTILE_RELATIVE_ACCURACY",
    "OutcomeMetric",
    "Pair",
    "outcome_metric",
]

OUTCOME_OBSERVATIONS_SERIES = "monitor_outcome_observations_total"
OUTCOME_POSITIVE_SERIES = "monitor_outcome_positive_total"
OUTCOME_LABEL = "outcome"  # the label of both series whose value is an outcome metric name
LATENCY_SERIES = "monitor_inference_latency_seconds"
QUANTILE_LEVELS = (0.5, 0.95, 0.99)
# Every reported quantile is within this relative error of a true order statistic (the DDSketch
# buckets of monitor.outcomes.sketch are built from it).
QUANTILE_RELATIVE_ACCURACY = 0.005
_SKETCH_ERROR = f"{QUANTILE_RELATIVE_ACCURACY * 100:g} % error"


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
            f"{q:.0%} quantile of producer-reported latency ({_SKETCH_ERROR}).",
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
            f"{q:.0%} quantile of usage.{tokens} ({_SKETCH_ERROR}).",
            quantile=q,
            sketch_of=tokens,
            better="lower",
        )
        for tokens in ("input_tokens", "output_tokens")
        for q in QUANTILE_LEVELS
    ),
)

# Names of the quantile metrics: read from a sketch, printed for people with its digits.
QUANTILE_METRICS = frozenset(m.name for m in OUTCOME_METRICS if m.kind == "quantile")


def outcome_metric(name: str) -> OutcomeMetric:
    """The catalogue entry of an outcome metric; a ``KeyError`` lists the known names."""
    for metric in OUTCOME_METRICS:
        if metric.name == name:
            return metric
    raise KeyError(
        f"outcome metric {name!r} is not one of {', '.join(m.name for m in OUTCOME_METRICS)}"
    )


# The outcome streams the concept-drift detectors watch (monitor.detectors), and which way each
# one's mean gets better: a detection the other way pages (monitor.detectors.values.worsened).
STREAM_BETTER: dict[str, str] = {
    "error": "lower",
    "satisfaction": "higher",
    "judge_score": "higher",
    "latency_ms": "lower",
}
