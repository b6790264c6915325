"""Input drift per window: fold a batch into histogram partials, score a merged window.

Histogram partials are named ``hist:<feature>`` with bucket ``<baseline_id>:<bin>``; data-quality
partials ``dq:<feature>`` with bucket ``missing``, ``type_violations`` or ``out_of_range``. Both
merge by summing, so any number of workers gives the same window.

A scored row carries ``n_current`` (the values it was scored on) next to ``n_events`` (the
window's on-time inference events): every event is binned, a missing value in the missing bin, so
the two differ only when part of the window was folded without that baseline (before it was
loaded or created, or under a baseline that replaced it mid-window). Such a row is ``partial``.

>>> from monitor.drift.baseline import build_baseline
>>> base = build_baseline("m", "v1", [{"features": {"x": float(i)}} for i in range(100)], now=0.0)
>>> parts = fold_drift({("m", "v1"): ("b1", base)}, [{"x": 5.0}, {"x": 500.0}], [None, None],
...                    np.array([0.0, 0.0]), ["m", "m"], ["v1", "v1"], np.array([1.0, 2.0]), 60)
>>> sorted({p.name for p in parts})
['dq:x', 'hist:x']
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from monitor.drift.baseline import Baseline, histogram_batch
from monitor.drift.chance import CHANCE_QUANTILE, chance_psi
from monitor.drift.divergence import DriftScore, SeverityThresholds, score_feature
from monitor.folding.partials import Partial, group_keys

__all__ = [
    "DQ_PREFIX",
    "EVENTS_NAME",
    "HIST_PREFIX",
    "DriftRow",
    "WindowHistograms",
    "fold_drift",
    "score_window",
    "window_histograms",
]

HIST_PREFIX = "hist:"
DQ_PREFIX = "dq:"
EVENTS_NAME = "inference_events"  # the partial counting a window's on-time inference events


def fold_drift(
    baselines: Mapping[tuple[str, str], tuple[str, Baseline]],
    features: Sequence[Mapping[str, Any]],
    texts: Sequence[str | None],
    starts: np.ndarray,
    models: Sequence[str],
    versions: Sequence[str],
    times: np.ndarray,
    window_seconds: int,
    grouped: tuple[np.ndarray, list[tuple[float, str, str]]] | None = None,
) -> list[Partial]:
    """Histogram and data-quality partials of the events whose model version has a baseline;
    ``grouped``: the :func:`group_keys` of ``starts``, ``models`` and ``versions``, if known."""
    ids, keys = grouped or group_keys(starts, models, versions)
    out: list[Partial] = []
    for group, (start, model, version) in enumerate(keys):
        if (model, version) not in baselines:
            continue
        baseline_id, baseline = baselines[(model, version)]
        if len(keys) == 1:  # the whole batch in one window of one version: no copies
            hist, latest = histogram_batch(baseline, features, texts), float(np.max(times))
        else:
            rows = np.flatnonzero(ids == group).tolist()
            hist = histogram_batch(baseline, [features[i] for i in rows], [texts[i] for i in rows])
            latest = float(times[rows].max())
        for feature, counts in hist.counts.items():
            for index in np.flatnonzero(counts).tolist():
                c = float(counts[index])
                out.append(
                    Partial(
                        start,
                        window_seconds,
                        model,
                        version,
                        HIST_PREFIX + feature,
                        f"{baseline_id}:{index}",
                        c,
                        c,
                        latest,
                    )
                )
            for kind, value in (
                ("missing", hist.missing[feature]),
                ("type_violations", hist.type_violations[feature]),
                ("out_of_range", hist.out_of_range[feature]),
            ):
                out.append(
                    Partial(
                        start,
                        window_seconds,
                        model,
                        version,
                        DQ_PREFIX + feature,
                        kind,
                        float(value),
                        float(hist.n),
                        latest,
                    )
                )
    return out


@dataclass(frozen=True)
class WindowHistograms:
    """Merged counts of one window of one model version, keyed by feature then baseline id."""

    counts: Mapping[str, Mapping[str, np.ndarray]]
    quality: Mapping[
        str, Mapping[str, float]
    ]  # feature -> {missing, type_violations, out_of_range, n}
    events: float = 0.0  # on-time inference events of the window, binned or not


@dataclass(frozen=True)
class DriftRow:
    feature: str
    baseline_id: str
    psi: float | None
    kl: float | None
    js: float | None
    n_current: int
    n_reference: int
    severity: str
    missing_rate: float
    type_violation_rate: float
    out_of_range_rate: float
    n_events: int = 0  # the window's on-time inference events
    detail: str = ""  # what the score rests on, in words (embedding rows, grown topic)

    @property
    def partial(self) -> bool:
        """Scored on fewer (or other) events than the window holds.

        >>> DriftRow("x", "b1", 0.1, 0.1, 0.1, 90, 1000, "none", 0.0, 0.0, 0.0, n_events=100).partial
        True
        """
        return self.n_current != self.n_events


def score_window(
    baselines: Mapping[str, Baseline],
    window: WindowHistograms,
    *,
    min_samples: int,
    thresholds: SeverityThresholds = SeverityThresholds(),
    feature_thresholds: Mapping[str, SeverityThresholds] | None = None,
) -> list[DriftRow]:
    """One row per feature; below ``min_samples`` the row keeps its counts but has no scores.

    When a window saw two baselines (one replaced the other mid-window), the one that binned
    most of its values is used, and the row is partial.
    """
    rows = []
    n_events = int(window.events)
    for feature, by_baseline in sorted(window.counts.items()):
        baseline_id = max(by_baseline, key=lambda b: (by_baseline[b].sum(), b))
        if baseline_id not in baselines or feature not in baselines[baseline_id].features:
            continue
        reference = baselines[baseline_id].features[feature].reference_histogram()
        current = by_baseline[baseline_id]
        quality = window.quality.get(feature, {})
        n = max(quality.get("n", 0.0), 1.0)
        rates = (
            quality.get("missing", 0.0) / n,
            quality.get("type_violations", 0.0) / n,
            quality.get("out_of_range", 0.0) / n,
        )
        n_current = int(current.sum())
        if n_current < min_samples:
            rows.append(
                DriftRow(
                    feature,
                    baseline_id,
                    None,
                    None,
                    None,
                    n_current,
                    int(reference.sum()),
                    "insufficient",
                    *rates,
                    n_events=n_events,
                )
            )
            continue
        limits = (feature_thresholds or {}).get(feature, thresholds)
        s = score_feature(feature, current, reference, limits)
        severity, detail = beyond_chance(s, reference)
        rows.append(
            DriftRow(
                feature,
                baseline_id,
                s.psi,
                s.kl,
                s.js,
                s.n_current,
                s.n_reference,
                severity,
                *rates,
                n_events=n_events,
                detail=detail,
            )
        )
    return rows


def beyond_chance(score: DriftScore, reference: np.ndarray) -> tuple[str, str]:
    """The score's severity, ``none`` where its PSI is no more than a window of its size drawn from
    the baseline itself may show (:mod:`monitor.drift.chance`), with the reason in words.

    >>> from monitor.drift.divergence import score_feature
    >>> reference = np.array([500, 300, 100, 50, 30, 20])
    >>> small = score_feature("x", np.array([52, 30, 10, 5, 3, 0]), reference)  # the 2 % missed
    >>> small.severity, beyond_chance(small, reference)
    ('moderate', ('none', 'PSI 0.107 is within chance: 100 values drawn from the baseline score up to 0.525 (99.9 % of such windows)'))
    >>> large = score_feature("x", np.array([5200, 3000, 1000, 500, 300, 0]), reference)
    >>> large.severity, beyond_chance(large, reference)
    ('moderate', ('moderate', ''))
    """
    if score.severity == "none":
        return score.severity, ""
    limit = chance_psi(reference, score.n_current)
    if score.psi > limit:
        return score.severity, ""
    return "none", (
        f"PSI {score.psi:.3f} is within chance: {score.n_current} values drawn from the baseline "
        f"score up to {limit:.3f} ({CHANCE_QUANTILE * 100:g} % of such windows)"
    )


def window_histograms(
    rows: Sequence[tuple[str, str, float, float]], n_bins: Mapping[tuple[str, str], int]
) -> WindowHistograms:
    """Build one window from summed store rows ``(name, bucket, count, total)``.

    ``n_bins[(baseline_id, feature)]`` sizes the vectors; buckets of unknown baselines are dropped.
    ``inference_events`` rows give the window's event count.

    >>> w = window_histograms([("hist:x", "b1:0", 3.0, 3.0), ("hist:x", "b1:2", 1.0, 1.0),
    ...                        ("dq:x", "missing", 1.0, 4.0), ("inference_events", "", 5.0, 5.0)],
    ...                       {("b1", "x"): 3})
    >>> w.counts["x"]["b1"].tolist(), w.quality["x"]["n"], w.events
    ([3.0, 0.0, 1.0], 4.0, 5.0)
    """
    counts: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    quality: dict[str, dict[str, float]] = defaultdict(dict)
    events = 0.0
    for name, bucket, count, total in rows:
        if name == EVENTS_NAME:
            events += count
        elif name.startswith(HIST_PREFIX):
            feature = name[len(HIST_PREFIX) :]
            baseline_id, _, index = bucket.rpartition(":")
            size = n_bins.get((baseline_id, feature))
            if size is None or not index.isdigit() or int(index) >= size:
                continue
            counts[feature].setdefault(baseline_id, np.zeros(size))[int(index)] += count
        elif name.startswith(DQ_PREFIX):
            feature = name[len(DQ_PREFIX) :]
            quality[feature][bucket] = quality[feature].get(bucket, 0.0) + count
            if bucket == "missing":  # every data-quality bucket carries the same n: count it once
                quality[feature]["n"] = quality[feature].get("n", 0.0) + total
    return WindowHistograms(dict(counts), dict(quality), events)
