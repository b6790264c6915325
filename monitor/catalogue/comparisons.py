"""What an A/B experiment compares per variant, and what a shadow deployment compares per pair.

>>> experiment_metric("human_takeover").better, shadow_metric("latency_ms").margin
('lower', 100.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from monitor.catalogue.outcome import OUTCOME_METRICS
from monitor.catalogue.window import WINDOW_METRICS

__all__ = [
    "KPI_PREFIX",
    "SHADOW_METRICS",
    "SHADOW_PREFIX",
    "ExperimentMetric",
    "ShadowMetric",
    "experiment_metric",
    "experiment_metrics",
    "shadow_metric",
]

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
        "latency_ms",
        "lower",
        0.0,
        100.0,
        "ms",
        "Shadow latency minus production latency; pairs where both answered.",
    ),
    ShadowMetric(
        "output_tokens",
        "lower",
        0.0,
        None,
        "tokens",
        "Shadow output tokens minus production's; pairs where both answered.",
    ),
    ShadowMetric(
        "length_chars",
        "lower",
        0.0,
        None,
        "characters",
        "Shadow output length minus production's; pairs where both answered.",
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
