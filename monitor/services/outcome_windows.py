"""Leader jobs on outcome windows: latency quantiles, and each version against its references.

A version is compared with the previous version of the same model (the newest one that
appeared before it, or ``stable_versions[model]``) and, for accuracy, with its baseline.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import numpy as np

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.drift_store import DriftStore
from monitor.adapters.outcome_store import OutcomeStore
from monitor.adapters.schema import LATENCY_HISTOGRAM, PROPORTIONS
from monitor.outcomes.fold import LATENCY_BUCKETS_MS, quantile_from_histogram
from monitor.outcomes.intervals import difference_interval, two_proportion_ztest

__all__ = ["OutcomeWindows", "previous_versions"]

QUANTILES = (("latency_p50_ms", 0.5), ("latency_p95_ms", 0.95), ("latency_p99_ms", 0.99))


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _epoch(value: Any) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def previous_versions(first_seen: dict[tuple[str, str], float], stable: dict[str, str]) -> dict[tuple[str, str], str]:
    """For each (model, version): the version it is compared with.

    >>> previous_versions({("m", "v1"): 0.0, ("m", "v2"): 10.0, ("m", "v3"): 20.0}, {})
    {('m', 'v2'): 'v1', ('m', 'v3'): 'v2'}
    >>> previous_versions({("m", "v1"): 0.0, ("m", "v2"): 10.0, ("m", "v3"): 20.0}, {"m": "v1"})
    {('m', 'v2'): 'v1', ('m', 'v3'): 'v1'}
    """
    by_model: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for (model, version), seen in first_seen.items():
        by_model[model].append((seen, version))
    out = {}
    for model, versions in by_model.items():
        versions.sort()
        for i, (_, version) in enumerate(versions):
            reference = stable.get(model) or (versions[i - 1][1] if i else None)
            if reference and reference != version:
                out[(model, version)] = reference
    return out


class OutcomeWindows:
    def __init__(self, store: ClickHouseStore, stable_versions: dict[str, str] | None = None) -> None:
        self.store = store
        self.outcomes = OutcomeStore(store)
        self.drift = DriftStore(store)
        self.stable = stable_versions or {}
        self.since = 0.0

    def run(self, now: float) -> int:
        mark = now - 5.0
        windows = [float(w) for (w,) in self.store.query(
            f"SELECT DISTINCT toFloat64(window_start) FROM {self.store.table('partials')} "
            "WHERE inserted_at >= {since:DateTime64(3)} AND (name = {latency:String} OR startsWith(name, 'outcome:'))",
            {"since": _dt(self.since), "latency": LATENCY_HISTOGRAM}).rows]
        self.since = mark
        if not windows:
            return 0
        baselines = self.drift.active_baselines()  # once per run, not per window
        for window in windows:
            self._latency_quantiles(window)
            self._comparisons(window, baselines)
        return len(windows)

    def _latency_quantiles(self, window: float) -> None:
        rows = self.store.query(
            f"SELECT model, model_version, any(window_seconds), bucket, sum(count) FROM {self.store.table('partials')} "
            "WHERE window_start = {w:DateTime64(3)} AND name = {latency:String} "
            "GROUP BY model, model_version, bucket", {"w": _dt(window), "latency": LATENCY_HISTOGRAM}).rows
        hist: dict[tuple[str, str, int], np.ndarray] = {}
        for model, version, seconds, bucket, count in rows:
            counts = hist.setdefault((model, version, int(seconds)), np.zeros(len(LATENCY_BUCKETS_MS) + 1))
            counts[int(bucket)] += count
        out = []
        for (model, version, seconds), counts in hist.items():
            for metric, q in QUANTILES:
                value = quantile_from_histogram(counts, q)
                if value is not None:
                    out.append([_dt(window), _dt(window + seconds), model, version, metric, "", value,
                                float(counts.sum()), 0.0, None, None, _dt(time.time())])
        self.store.insert("metric_windows", out, ["window_start", "window_end", "model", "model_version", "metric",
                                                  "segment", "value", "count", "numerator", "low", "high",
                                                  "updated_at"])

    def _comparisons(self, window: float, baselines: dict) -> None:
        table = self.store.table("metric_windows")
        first_seen = {(m, v): _epoch(t) for m, v, t in self.store.query(
            f"SELECT model, model_version, min(window_start) FROM {table} WHERE metric = 'inference_events' "
            "GROUP BY model, model_version").rows}
        rates = {(m, v, metric): (float(num), float(n)) for m, v, metric, num, n in self.store.query(
            f"SELECT model, model_version, metric, numerator, count FROM {table} FINAL "
            "WHERE window_start = {w:DateTime64(3)} AND segment = '' AND has({rates:Array(String)}, metric)",
            {"w": _dt(window), "rates": list(PROPORTIONS)}).rows}
        rows = []
        for (model, version), reference in previous_versions(first_seen, self.stable).items():
            for metric in PROPORTIONS:
                if (model, version, metric) in rates and (model, reference, metric) in rates:
                    rows.append(self._compare(window, model, version, metric, f"version:{reference}",
                                              rates[(model, version, metric)], rates[(model, reference, metric)]))
        for (model, version), (_, baseline) in baselines.items():
            if baseline.accuracy is not None and baseline.n_labeled and (model, version, "accuracy") in rates:
                reference = (baseline.accuracy * baseline.n_labeled, float(baseline.n_labeled))
                rows.append(self._compare(window, model, version, "accuracy", "baseline",
                                          rates[(model, version, "accuracy")], reference))
        self.outcomes.write_comparisons(rows)

    @staticmethod
    def _compare(window: float, model: str, version: str, metric: str, reference: str,
                 current: tuple[float, float], base: tuple[float, float]) -> list[Any]:
        (x1, n1), (x2, n2) = current, base
        diff, low, high = difference_interval(x1, n1, x2, n2)
        _, p_value = two_proportion_ztest(x1, n1, x2, n2)
        return [window, model, version, metric, reference, x1 / n1, x2 / n2, diff, low, high, p_value, n1, n2]
