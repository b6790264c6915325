"""Prometheus metrics of one worker. Every metric lives in the registry it is given.

Names follow the Prometheus conventions: prefix ``monitor_``, base units, ``_total`` on counters.
Label cardinality is bounded: ``model``/``model_version`` pairs beyond ``max_model_labels`` are
exported as ``other``; ``feature`` labels come from the baseline (bounded by its feature count).
The series of a model version that has not been seen for ``MONITOR_METRICS_VERSION_TTL`` are
removed (:meth:`MonitorMetrics.forget_idle_versions`), so a retired version's last drift gauges do
not stay on dashboards forever and its label slot is freed.

>>> from prometheus_client import CollectorRegistry
>>> m = MonitorMetrics(CollectorRegistry())
>>> m.events.labels(kind="inference").inc(3)
>>> m.registry.get_sample_value("monitor_events_total", {"kind": "inference"})
3.0
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from monitor.adapters.drift_metrics import DriftMetrics
from monitor.adapters.experiment_metrics import ExperimentMetrics
from monitor.adapters.gauges import remove_matching
from monitor.adapters.judge_metrics import JudgeMetrics
from monitor.adapters.shadow_metrics import ShadowMetrics
from monitor.alerts.state import Alert
from monitor.catalogue import (
    LATENCY_SERIES,
    OUTCOME_LABEL,
    OUTCOME_OBSERVATIONS_SERIES,
    OUTCOME_POSITIVE_SERIES,
)
from monitor.drift.windows import DriftRow

__all__ = ["OTHER", "MonitorMetrics", "observe_many"]

OTHER = "other"
MV = ("model", "model_version")


def observe_many(child: Any, values: Sequence[float] | np.ndarray) -> None:
    """``child.observe(v)`` for every finite ``v``, in one pass: each bucket and the sum are added to once.

    prometheus_client has no bulk observe; this fills the same bucket and sum values its
    ``observe`` would (``le`` is inclusive), so a batch of latencies costs one numpy search, not one
    Python call per event. A child without the internals this relies on gets ``observe`` per value.

    >>> from prometheus_client import CollectorRegistry, Histogram
    >>> h = Histogram("x_seconds", "x", registry=CollectorRegistry(), buckets=(1, 2))
    >>> observe_many(h, [0.5, 1.0, 1.5, 9.0])
    >>> [h.collect()[0].samples[i].value for i in range(3)]  # le=1, le=2, le=+Inf (cumulative)
    [2.0, 3.0, 4.0]
    """
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size == 0:
        return
    bounds = getattr(child, "_upper_bounds", None)
    buckets = getattr(child, "_buckets", None)
    total = getattr(child, "_sum", None)
    if bounds is None or buckets is None or total is None:
        for value in array.tolist():
            child.observe(value)
        return
    counts = np.bincount(np.searchsorted(bounds, array, side="left"), minlength=len(bounds))
    for bucket, n in zip(buckets, counts.tolist()):
        if n:
            bucket.inc(n)
    total.inc(float(array.sum()))


class MonitorMetrics:
    def __init__(self, registry: CollectorRegistry, max_model_labels: int = 50) -> None:
        self.registry = registry
        self.max_model_labels = max_model_labels
        self._model_pairs: set[tuple[str, str]] = set()
        self._last_seen: dict[tuple[str, str], float] = {}
        # registration order is the order of /metrics: keep it
        self._declare_ingest_metrics(registry)
        self._declare_batch_metrics(registry)
        self._declare_worker_state_metrics(registry)
        self.drift = DriftMetrics(registry)  # scores of each version's newest window
        self.drift_psi, self.drift_kl = self.drift.psi, self.drift.kl
        self.drift_js, self.drift_severity = self.drift.js, self.drift.severity
        self._declare_outcome_metrics(registry)
        self._declare_join_metrics(registry)
        self._declare_detector_metrics(registry)
        self._declare_alert_metrics(registry)
        self.experiments = ExperimentMetrics(registry)  # A/B reports (docs/experiments.md)
        self.shadow = ShadowMetrics(registry)  # shadow comparisons (docs/experiments.md)
        self.judge = JudgeMetrics(registry)  # the judge runner's series (docs/judge.md)
        # every metric whose first two labels are model and model_version
        self._versioned = (
            self.drift_psi,
            self.drift_kl,
            self.drift_js,
            self.drift_severity,
            self.inferences,
            self.outcome_observations,
            self.outcome_positive,
            self.latency,
            self.detections,
        )

    def _declare_ingest_metrics(self, registry: CollectorRegistry) -> None:
        """Kafka consumption: messages read, events accepted, rejected, late, resent or skipped on replay."""
        self.messages = Counter(
            "monitor_messages_consumed_total",
            "Kafka messages consumed",
            ["topic"],
            registry=registry,
        )
        self.events = Counter(
            "monitor_events_total", "Valid events processed", ["kind"], registry=registry
        )
        self.rejected = Counter(
            "monitor_events_rejected_total",
            "Events or messages rejected to the DLQ",
            ["kind", "reason"],
            registry=registry,
        )
        self.dlq = Counter(
            "monitor_dlq_messages_total",
            "Records written to the dead-letter topic",
            registry=registry,
        )
        self.late = Counter(
            "monitor_late_events_total",
            "Events later than the allowed lateness, not merged",
            ["kind"],
            registry=registry,
        )
        self.resent = Counter(
            "monitor_resent_events_total",
            "Events a producer sent again (same request id, model, version and time): not merged",
            ["kind"],
            registry=registry,
        )
        self.replayed = Counter(
            "monitor_replayed_messages_skipped_total",
            "Messages skipped on replay: already in the store",
            ["topic"],
            registry=registry,
        )

    def _declare_batch_metrics(self, registry: CollectorRegistry) -> None:
        """Batch processing and its store writes: duration, consumer lag, rows written, errors."""
        self.batch_seconds = Histogram(
            "monitor_batch_duration_seconds",
            "Time to process one consumed batch",
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.lag = Gauge(
            "monitor_consumer_lag_messages",
            "Messages behind the partition end",
            ["topic", "partition"],
            registry=registry,
        )
        self.partial_rows = Counter(
            "monitor_partial_rows_written_total",
            "Partial aggregate rows written",
            registry=registry,
        )
        self.windows_written = Counter(
            "monitor_windows_written_total", "Window rows (re)written", ["table"], registry=registry
        )
        self.store_errors = Counter(
            "monitor_store_errors_total",
            "Failed store operations",
            ["operation"],
            registry=registry,
        )

    def _declare_worker_state_metrics(self, registry: CollectorRegistry) -> None:
        """Offset epochs, evicted per-version state, folded model labels and the watermark."""
        self.offset_resets = Counter(
            "monitor_offset_resets_total",
            "Source partitions whose offsets restarted (recreated topic, lost broker "
            "log): a new position epoch, nothing skipped",
            ["topic", "reason"],
            registry=registry,
        )
        self.state_evictions = Counter(
            "monitor_state_evictions_total",
            "Per-version state dropped from memory at its cap (reloaded from the "
            "store when needed again)",
            ["state"],
            registry=registry,
        )
        self.model_labels_folded = Counter(
            "monitor_model_labels_folded_total",
            'Observations exported as model="other": the label cap was reached',
            registry=registry,
        )
        self.watermark = Gauge(
            "monitor_watermark_timestamp_seconds",
            "Event-time watermark (Unix time)",
            registry=registry,
        )

    def _declare_outcome_metrics(self, registry: CollectorRegistry) -> None:
        """Inferences, joined outcomes (observed and positive: rates in PromQL) and latency."""
        self.inferences = Counter(
            "monitor_inferences_total", "Inference events", MV, registry=registry
        )
        self.outcome_observations = Counter(
            OUTCOME_OBSERVATIONS_SERIES,
            "Joined outcomes observed",
            (*MV, OUTCOME_LABEL),
            registry=registry,
        )
        self.outcome_positive = Counter(
            OUTCOME_POSITIVE_SERIES,
            "Joined outcomes that were positive",
            (*MV, OUTCOME_LABEL),
            registry=registry,
        )
        self.latency = Histogram(
            LATENCY_SERIES,
            "Model latency reported by producers",
            MV,
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
        )

    def _declare_join_metrics(self, registry: CollectorRegistry) -> None:
        """The inference/feedback join: pending, expired, lost to a store reset, and join delay."""
        self.join_pending = Gauge(
            "monitor_join_pending",
            "Records waiting for their join partner",
            ["kind"],
            registry=registry,
        )
        self.join_expired = Counter(
            "monitor_join_expired_total", "Records expired unmatched", ["kind"], registry=registry
        )
        self.join_store_resets = Counter(
            "monitor_join_store_resets_total",
            "Redis join stores found reset (their instance marker gone: Redis restarted without "
            "persistence or was flushed); join records written before are lost",
            ["store"],
            registry=registry,
        )
        self.experiment_assignments_left_out = Counter(
            "monitor_experiment_assignments_left_out_total",
            "Experiment assignments whose experiment partials a batch's bound left out "
            "(MONITOR_MAX_EXPERIMENTS undeclared experiments, 20 variants each)",
            registry=registry,
        )
        self.join_delay = Histogram(
            "monitor_join_delay_seconds",
            "Feedback time minus inference time of joined pairs",
            registry=registry,
            buckets=(1, 10, 60, 300, 1800, 3600, 21600, 86400, 604800),
        )

    def _declare_detector_metrics(self, registry: CollectorRegistry) -> None:
        self.detections = Counter(
            "monitor_detections_total",
            "Concept-drift detections",
            (*MV, "stream", "detector"),
            registry=registry,
        )

    def _declare_alert_metrics(self, registry: CollectorRegistry) -> None:
        self.alerts = Counter(
            "monitor_alerts_total",
            "Alert notifications; resolution: cleared or superseded when resolved, empty while firing",
            ["rule", "severity", "status", "resolution"],
            registry=registry,
        )
        self.sink_failures = Counter(
            "monitor_alert_sink_failures_total",
            "Failed alert deliveries",
            ["sink"],
            registry=registry,
        )
        self.sink_queue = Gauge(
            "monitor_alert_sink_queue", "Alerts queued for retry", ["sink"], registry=registry
        )

    def count_alerts(self, alerts: Iterable[Alert]) -> None:
        """Count notifications by rule, severity, status and resolution: an alert superseded by a
        more urgent one is not counted with the cleared ones."""
        for a in alerts:
            self.alerts.labels(
                rule=a.rule, severity=a.severity, status=a.status, resolution=a.resolution or ""
            ).inc()

    def set_drift(self, scored: Iterable[tuple[str, str, float, Sequence[DriftRow]]]) -> None:
        """Export one refresh's scored windows ``(model, version, window_start, rows)``: each
        version's series show its newest scored window, and nothing it no longer scores
        (:class:`~monitor.adapters.drift_metrics.DriftMetrics`)."""
        self.drift.set_windows(
            (self.model_labels(model, version), start, rows)
            for model, version, start, rows in scored
        )

    def model_labels(
        self, model: str, model_version: str, now: float | None = None
    ) -> tuple[str, str]:
        """The label pair to export for a model version, ``(other, other)`` past the cap."""
        pair = (model, model_version)
        if pair in self._model_pairs or len(self._model_pairs) < self.max_model_labels:
            self._model_pairs.add(pair)
            self._last_seen[pair] = time.time() if now is None else now
            return pair
        self.model_labels_folded.inc()
        return (OTHER, OTHER)

    def forget_idle_versions(self, now: float, ttl_seconds: float) -> list[tuple[str, str]]:
        """Remove every series of the model versions not seen for ``ttl_seconds``; returns them.

        >>> from prometheus_client import CollectorRegistry
        >>> m = MonitorMetrics(CollectorRegistry())
        >>> m.drift_psi.labels(*m.model_labels("chat", "v1", now=0.0), "x").set(0.3)
        >>> m.forget_idle_versions(now=100.0, ttl_seconds=3600), m.forget_idle_versions(7200.0, 3600)
        ([], [('chat', 'v1')])
        >>> m.registry.get_sample_value("monitor_drift_psi", {"model": "chat", "model_version": "v1", "feature": "x"})
        """
        idle = [pair for pair, seen in self._last_seen.items() if seen < now - ttl_seconds]
        if not idle:
            return []
        gone = set(idle)
        self.drift.forget(gone)
        for metric in self._versioned:
            remove_matching(metric, lambda labels: tuple(labels[:2]) in gone)
        for pair in idle:
            self._model_pairs.discard(pair)
            del self._last_seen[pair]
        return idle
