"""The per-window counts and means of accepted events, and the per-feature drift scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DRIFT_SCORES", "WINDOW_METRICS", "DriftScore", "WindowMetric"]


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
    WindowMetric(
        "resent_inference_events",
        "count",
        "events",
        "Inference events a producer sent again (request id, model, version and time of an "
        "earlier one): not merged.",
    ),
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
