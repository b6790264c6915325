"""Leader jobs on outcome windows: latency and token quantiles, and each version against its references.

A version is compared with the previous version of the same model (the newest one that
appeared before it, or ``stable_versions[model]``) and, for accuracy, with its baseline.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import numpy as np

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.drift_store import DriftStore
from monitor.adapters.inserted_since import next_mark
from monitor.adapters.outcome_store import OutcomeStore
from monitor.adapters.schema import PROPORTIONS, SKETCH_PREFIX
from monitor.catalogue import OUTCOME_METRICS
from monitor.contract.timestamps import epoch_seconds, utc_datetime
from monitor.outcomes.intervals import difference_interval, two_proportion_ztest
from monitor.outcomes.sketch import quantile_from_sketch

__all__ = ["METRIC_WINDOW_COLUMNS", "OutcomeWindows", "previous_versions"]

METRIC_WINDOW_COLUMNS = (
    "window_start",
    "window_end",
    "model",
    "model_version",
    "metric",
    "segment",
    "value",
    "count",
    "numerator",
    "low",
    "high",
    "updated_at",
)

# Quantile metrics of each sketched value (DDSketch, within RELATIVE_ACCURACY): metric name and q.
QUANTILES: dict[str, tuple[tuple[str, float], ...]] = {
    source: tuple(
        (m.name, m.quantile)
        for m in OUTCOME_METRICS
        if m.sketch_of == source and m.quantile is not None
    )
    for source in dict.fromkeys(m.sketch_of for m in OUTCOME_METRICS if m.sketch_of)
}


def previous_versions(
    first_seen: dict[tuple[str, str], float], stable: dict[str, str]
) -> dict[tuple[str, str], str]:
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
    def __init__(
        self, store: ClickHouseStore, stable_versions: dict[str, str] | None = None
    ) -> None:
        self.store = store
        self.outcomes = OutcomeStore(store)
        self.drift = DriftStore(store)
        self.stable = stable_versions or {}
        self.since = 0.0

    def run(self, now: float) -> int:
        mark = next_mark(now)
        windows = [
            float(w)
            for (w,) in self.store.query(
                f"SELECT DISTINCT toFloat64(window_start) FROM {self.store.table('partials')} "
                "WHERE inserted_at >= {since:DateTime64(3)} AND (startsWith(name, {sketch:String}) "
                "OR startsWith(name, 'outcome:'))",
                {"since": utc_datetime(self.since), "sketch": SKETCH_PREFIX},
            ).rows
        ]
        self.since = mark
        if not windows:
            return 0
        baselines = self.drift.active_baselines()  # once per run, not per window
        for window in windows:
            self._quantiles(window)
            self._comparisons(window, baselines)
        return len(windows)

    def _quantiles(self, window: float) -> None:
        """Quantiles of the window's merged sketches: bucket counts summed over every batch and worker."""
        rows = self.store.query(
            f"SELECT model, model_version, any(window_seconds), name, toInt64(bucket), sum(count) "
            f"FROM {self.store.table('partials')} WHERE window_start = {{w:DateTime64(3)}} "
            "AND startsWith(name, {sketch:String}) GROUP BY model, model_version, name, bucket",
            {"w": utc_datetime(window), "sketch": SKETCH_PREFIX},
        ).rows
        sketches: dict[tuple[str, str, int, str], tuple[list[int], list[float]]] = {}
        for model, version, seconds, name, key, count in rows:
            keys, counts = sketches.setdefault(
                (model, version, int(seconds), name[len(SKETCH_PREFIX) :]), ([], [])
            )
            keys.append(int(key))
            counts.append(float(count))
        out = []
        for (model, version, seconds, value_name), (keys, counts) in sketches.items():
            for metric, q in QUANTILES.get(value_name, ()):
                value = quantile_from_sketch(np.asarray(keys), np.asarray(counts), q)
                if value is not None:
                    out.append(
                        [
                            utc_datetime(window),
                            utc_datetime(window + seconds),
                            model,
                            version,
                            metric,
                            "",
                            value,
                            float(sum(counts)),
                            0.0,
                            None,
                            None,
                            utc_datetime(time.time()),
                        ]
                    )
        self.store.insert(
            "metric_windows",
            out,
            METRIC_WINDOW_COLUMNS,
        )

    def _comparisons(self, window: float, baselines: dict) -> None:
        table = self.store.table("metric_windows")
        first_seen = {
            (m, v): epoch_seconds(t)
            for m, v, t in self.store.query(
                f"SELECT model, model_version, min(window_start) FROM {table} WHERE metric = 'inference_events' "
                "GROUP BY model, model_version"
            ).rows
        }
        rates = {
            (m, v, metric): (float(num), float(n))
            for m, v, metric, num, n in self.store.query(
                f"SELECT model, model_version, metric, numerator, count FROM {table} FINAL "
                "WHERE window_start = {w:DateTime64(3)} AND segment = '' AND has({rates:Array(String)}, metric)",
                {"w": utc_datetime(window), "rates": list(PROPORTIONS)},
            ).rows
        }
        rows = []
        for (model, version), reference in previous_versions(first_seen, self.stable).items():
            for metric in PROPORTIONS:
                if (model, version, metric) in rates and (model, reference, metric) in rates:
                    rows.append(
                        self._compare(
                            window,
                            model,
                            version,
                            metric,
                            f"version:{reference}",
                            rates[(model, version, metric)],
                            rates[(model, reference, metric)],
                        )
                    )
        for (model, version), (_, baseline) in baselines.items():
            if (
                baseline.accuracy is not None
                and baseline.n_labeled
                and (model, version, "accuracy") in rates
            ):
                labeled = (baseline.accuracy * baseline.n_labeled, float(baseline.n_labeled))
                rows.append(
                    self._compare(
                        window,
                        model,
                        version,
                        "accuracy",
                        "baseline",
                        rates[(model, version, "accuracy")],
                        labeled,
                    )
                )
        self.outcomes.write_comparisons(rows)

    @staticmethod
    def _compare(
        window: float,
        model: str,
        version: str,
        metric: str,
        reference: str,
        current: tuple[float, float],
        base: tuple[float, float],
    ) -> list[Any]:
        (x1, n1), (x2, n2) = current, base
        diff, low, high = difference_interval(x1, n1, x2, n2)
        _, p_value = two_proportion_ztest(x1, n1, x2, n2)
        return [
            window,
            model,
            version,
            metric,
            reference,
            x1 / n1,
            x2 / n2,
            diff,
            low,
            high,
            p_value,
            n1,
            n2,
        ]
