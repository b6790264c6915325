"""Prometheus bookkeeping of one processed batch."""

from __future__ import annotations

from collections import Counter

import numpy as np

from monitor.adapters.prometheus_metrics import MonitorMetrics, observe_many
from monitor.catalogue import OUTCOME_METRICS
from monitor.folding.pipeline import BatchOutput
from monitor.outcomes.fold import fold_outcomes
from monitor.services.detectors import DetectorBatch
from monitor.services.outcomes import OutcomeResult

__all__ = ["record_batch_metrics", "record_detections", "record_outcome_metrics"]

# Outcome metrics exported as observations and positives, labelled with their catalogue name.
EXPORTED_OUTCOMES = frozenset(m.prometheus_label for m in OUTCOME_METRICS if m.prometheus_label)


def record_batch_metrics(m: MonitorMetrics, out: BatchOutput) -> None:
    for kind, n in out.events.items():
        m.events.labels(kind=kind).inc(n)
    for kind, n in out.late.items():
        m.late.labels(kind=kind).inc(n)
    for kind, n in out.resent.items():
        m.resent.labels(kind=kind).inc(n)
    for topic, n in out.skipped.items():
        m.replayed.labels(topic=topic).inc(n)
    for topic, n in out.messages.items():
        m.messages.labels(topic=topic).inc(n)
    for (model, version), n in out.tally.counts.items():
        m.inferences.labels(*m.model_labels(model, version)).inc(n)
    shadow = Counter(
        (e.model, e.model_version) for source in out.sources.values() for e in source.shadow
    )
    for (model, version), n in shadow.items():
        m.shadow.events.labels(*m.model_labels(model, version)).inc(n)
    for (model, version), latencies_ms in out.tally.latencies_ms.items():
        seconds = np.concatenate(latencies_ms) / 1000  # NaN (no latency) is not observed
        observe_many(m.latency.labels(*m.model_labels(model, version)), seconds)


def record_outcome_metrics(m: MonitorMetrics, result: OutcomeResult) -> None:
    for total in fold_outcomes(result.outcomes, 86400 * 365 * 100) if result.outcomes else ():
        if total.segment or total.metric not in EXPORTED_OUTCOMES:
            continue
        labels = (*m.model_labels(total.model, total.model_version), total.metric)
        m.outcome_observations.labels(*labels).inc(total.denominator)
        m.outcome_positive.labels(*labels).inc(total.numerator)
    for delay in result.join_delays:
        m.join_delay.observe(max(delay, 0.0))
    if result.assignments_left_out:
        m.experiment_assignments_left_out.inc(result.assignments_left_out)


def record_detections(m: MonitorMetrics, batch: DetectorBatch) -> None:
    for found in batch.detections:
        d = found.detection
        m.detections.labels(*m.model_labels(d.model, d.model_version), d.stream, d.detector).inc()
