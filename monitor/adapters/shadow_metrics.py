"""Prometheus series of shadow comparisons (docs/experiments.md): traffic, unpaired answers, each report."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge

from monitor.adapters.gauges import remove_matching, set_or_remove
from monitor.shadow.report import VERDICTS, ShadowReport

__all__ = ["ShadowMetrics"]

PAIR = ("model", "production_version", "shadow_version")


class ShadowMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.events = Counter(
            "monitor_shadow_events_total",
            "Shadow inferences (never counted as production)",
            ["model", "model_version"],
            registry=r,
        )
        self.unpaired = Counter(
            "monitor_shadow_unpaired_total",
            "Production or shadow answers that expired without a partner",
            ["side"],
            registry=r,
        )
        self.pairs = Gauge(
            "monitor_shadow_pairs", "Production/shadow pairs compared", PAIR, registry=r
        )
        self.agreement = Gauge(
            "monitor_shadow_agreement",
            "Share of pairs with equal normalised answers",
            PAIR,
            registry=r,
        )
        self.similarity = Gauge(
            "monitor_shadow_similarity", "Mean text similarity of the pairs", PAIR, registry=r
        )
        self.semantic_similarity = Gauge(
            "monitor_shadow_semantic_similarity",
            "Mean cosine of the pairs' answer embeddings (MONITOR_EMBEDDER)",
            PAIR,
            registry=r,
        )
        self.latency_delta = Gauge(
            "monitor_shadow_latency_delta_ms",
            "Mean shadow minus production latency",
            PAIR,
            registry=r,
        )
        self.error_rate = Gauge(
            "monitor_shadow_error_rate",
            "Share of shadow inferences with an error",
            PAIR,
            registry=r,
        )
        self.verdict = Gauge(
            "monitor_shadow_verdict",
            "1 for the current verdict, else 0",
            (*PAIR, "verdict"),
            registry=r,
        )

    def set_report(self, report: ShadowReport) -> None:
        """Export one comparison; a NaN value (no pair or shadow event measured it) removes its
        series, so an earlier report's value is not exported as current."""
        labels = (report.model, report.production_version, report.shadow_version)
        for gauge, value in (
            (self.pairs, report.pairs),
            (self.agreement, report.agreement),
            (self.similarity, report.similarity),
            (self.semantic_similarity, report.semantic_similarity),
            (self.latency_delta, report.latency_delta_ms),
            (self.error_rate, report.shadow_error_rate),
        ):
            set_or_remove(gauge, labels, value)
        for verdict in VERDICTS:
            self.verdict.labels(*labels, verdict).set(float(verdict == report.verdict))

    def set_reports(self, reports: Iterable[ShadowReport]) -> None:
        """Export one refresh's comparisons; a comparison no longer reported (its partials deleted,
        by a retention TTL or a clean-up) loses every series."""
        shown = set()
        for report in reports:
            self.set_report(report)
            shown.add((report.model, report.production_version, report.shadow_version))
        for gauge in (
            self.pairs,
            self.agreement,
            self.similarity,
            self.semantic_similarity,
            self.latency_delta,
            self.error_rate,
            self.verdict,
        ):
            remove_matching(gauge, lambda k: tuple(k[:3]) not in shown)
