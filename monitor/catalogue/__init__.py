"""The metric catalogue: every metric the monitor computes, declared once.

Folds, the store's SQL, the Prometheus export, alert-rule validation, the deploy checks and the
docs read these tables; nothing else spells a metric name. Adding an outcome metric is one
:class:`OutcomeMetric` entry (with how one inference+feedback pair contributes) plus its test.
The tables live in :mod:`~monitor.catalogue.outcome` (outcome metrics), :mod:`~monitor.catalogue.window`
(window counts and means, drift scores) and :mod:`~monitor.catalogue.comparisons` (experiment and
shadow metrics), the answer rules in :mod:`~monitor.catalogue.answers` and the docs table in
:mod:`~monitor.catalogue.docs`; this package maps rule metrics and is what everything imports.

"Correct" and "satisfied" are defined here too, once, for baselines, joins, folds and detectors:

>>> correct("True", 1), correct(" Refund ", "refund"), correct("2.0", 2), correct("yes", True)
(True, True, True, False)
>>> satisfied(rating=5, thumbs="down"), satisfied(rating=None, thumbs="up"), satisfied(None, None)
(True, True, None)
>>> outcome_metric("task_completion").rule_metric
'task_completion_rate'
>>> "satisfaction" in METRIC_WINDOW_NAMES, "emb:phi" in METRIC_WINDOW_NAMES
(True, False)
"""

from __future__ import annotations

from monitor.catalogue.answers import SATISFIED_RATING, correct, normalise_answer, satisfied
from monitor.catalogue.comparisons import (
    KPI_PREFIX,
    SHADOW_METRICS,
    SHADOW_PREFIX,
    ExperimentMetric,
    ShadowMetric,
    experiment_metric,
    experiment_metrics,
    shadow_metric,
)
from monitor.catalogue.docs import catalogue_markdown, write_catalogue_docs
from monitor.catalogue.outcome import LATENCY_SERIES as LATENCY_SERIES
from monitor.catalogue.outcome import (
    OUTCOME_LABEL,
    OUTCOME_METRICS,
    OUTCOME_OBSERVATIONS_SERIES,
    OUTCOME_POSITIVE_SERIES,
    QUANTILE_METRICS,
    STREAM_BETTER,
    OutcomeMetric,
    outcome_metric,
)
from monitor.catalogue.window import DRIFT_SCORES, WINDOW_METRICS, DriftScore, WindowMetric

__all__ = [
    "DATA_QUALITY_RULE_METRICS",
    "DRIFT_SCORES",
    "KPI_PREFIX",
    "METRIC_WINDOW_NAMES",
    "OUTCOME_LABEL",
    "OUTCOME_METRICS",
    "OUTCOME_OBSERVATIONS_SERIES",
    "OUTCOME_POSITIVE_SERIES",
    "QUANTILE_METRICS",
    "SATISFIED_RATING",
    "SHADOW_METRICS",
    "SHADOW_PREFIX",
    "STREAM_BETTER",
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

# The metrics of metric_windows a person asks for: the table also holds the worker's internal
# rows (embedding-drift sums such as emb:phi, per baseline bucket), which no listing shows.
METRIC_WINDOW_NAMES: tuple[str, ...] = (
    *(m.name for m in WINDOW_METRICS),
    *(m.name for m in OUTCOME_METRICS),
)
# Data-quality rule metrics besides the drift scores: judged from the windows or by Prometheus.
DATA_QUALITY_RULE_METRICS = ("late_event_rate", "dlq_rate")
# The traffic rule metric: a window's inference events / the recent mean (monitor.alerts.traffic).
TRAFFIC_RULE_METRIC = "traffic_ratio"


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
