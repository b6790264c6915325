"""Baseline profile of a model's inputs, and the histograms of a batch against it.

A :class:`Baseline` is taken once from reference records (inference-shaped dicts): for every
feature it fixes bins (:mod:`monitor.drift.binning`) and keeps the reference counts, range and
kind. :func:`histogram_batch` then counts a batch of feature maps into those same bins, so the
window's counts and the reference counts can go straight into :mod:`monitor.drift.divergence`.
The record itself and its JSON form are in :mod:`monitor.drift.baseline_profile`, the turning of
feature maps into columns in :mod:`monitor.drift.feature_columns`; both records are re-exported here.

>>> records = [{"features": {"len": float(i), "lang": "en" if i % 4 else "de"}} for i in range(8)]
>>> base = build_baseline("m", "v1", records, n_bins=2, now=0.0)
>>> base.features["len"].bins.edges, base.features["lang"].reference_counts
((3.5,), (6, 2, 0, 0))
>>> h = histogram_batch(base, [{"len": 9.0, "lang": "fr"}, {"len": "x"}, {"other": 1}])
>>> h.counts["len"].tolist(), h.type_violations["len"], h.out_of_range["len"]
([0, 1, 2], 1, 1)
>>> h.counts["lang"].tolist(), h.unknown_features
([0, 0, 1, 2], {'other': 1})
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitor.catalogue import correct
from monitor.drift.baseline_profile import FEATURE_KINDS, Baseline, FeatureProfile
from monitor.drift.binning import (
    CategoricalBins,
    categorical_bins_from_reference,
    numeric_bins_from_reference,
)
from monitor.drift.feature_columns import feature_columns, is_number, number_block, numeric_column
from monitor.drift.text_features import TEXT_FEATURES, text_features
from monitor.errors import ConfigError

__all__ = [
    "FEATURE_KINDS",
    "Baseline",
    "BatchHistograms",
    "FeatureProfile",
    "build_baseline",
    "histogram_batch",
    "records_of",
]


def records_of(
    records: Iterable[Mapping[str, Any]], model: str, model_version: str
) -> tuple[list[Mapping[str, Any]], Counter[str]]:
    """The reference records of ``model``/``model_version`` (those that name them, and those that
    name no model or version), and how many name another model or version (``"model/version"`` ->
    count): a file of several versions' traffic builds each version's baseline from its own.

    >>> kept, others = records_of([{"model": "m", "model_version": "v1"}, {"features": {}},
    ...                            {"model": "m", "model_version": "v2"}], "m", "v1")
    >>> len(kept), dict(others)
    (2, {'m/v2': 1})
    """
    kept: list[Mapping[str, Any]] = []
    others: Counter[str] = Counter()
    for record in records:
        named = record.get("model"), record.get("model_version")
        if named[0] not in (None, model) or named[1] not in (None, model_version):
            others["/".join("" if n is None else str(n) for n in named)] += 1
        else:
            kept.append(record)
    return kept, others


def _numeric_profile(name: str, values: np.ndarray, n_bins: int, derived: bool) -> FeatureProfile:
    bins = numeric_bins_from_reference(name, values, n_bins)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (None, None)
    counts = tuple(bins.counts(values).tolist())
    return FeatureProfile(name, "numeric", bins, counts, len(values), low, high, derived)


def _categorical_profile(
    name: str, values: Sequence[Any] | np.ndarray, top_k: int, derived: bool
) -> FeatureProfile:
    bins = categorical_bins_from_reference(name, values, top_k)
    counts = tuple(bins.counts(values).tolist())
    return FeatureProfile(name, "categorical", bins, counts, len(values), None, None, derived)


def build_baseline(
    model: str,
    model_version: str,
    records: Iterable[Mapping[str, Any]],
    *,
    n_bins: int = 10,
    top_k: int = 20,
    now: float,
    source: str = "",
) -> Baseline:
    """Profile reference ``records`` (dicts with ``features``, ``input_text``, ``prediction``,
    ``label``...) into a :class:`Baseline` created at ``now``.

    A feature is numeric when every non-null value is an int or float (bools are categorical),
    otherwise categorical. When some record has ``input_text``, the derived
    :data:`~monitor.drift.text_features.TEXT_FEATURES` become features too. ``accuracy`` is the share
    of records with both a prediction and a label where the prediction is
    :func:`~monitor.catalogue.correct` (so CSV ``"true"`` and JSON ``true`` agree).
    """
    texts: list[str | None] = []
    outcomes: list[tuple[Any, Any]] = []

    def feature_maps() -> Iterable[Mapping[str, Any] | None]:
        for record in records:
            texts.append(record.get("input_text"))
            if record.get("prediction") is not None and record.get("label") is not None:
                outcomes.append((record["prediction"], record["label"]))
            yield record.get("features")

    columns, _, n = feature_columns(feature_maps(), None)
    if n == 0:
        raise ConfigError(f"no records to build the baseline of {model}/{model_version} from")
    profiles: dict[str, FeatureProfile] = {}
    for name, values in sorted(columns.items()):
        if all(v is None or is_number(v) for v in values):
            profiles[name] = _numeric_profile(name, numeric_column(values)[0], n_bins, False)
        else:
            profiles[name] = _categorical_profile(name, values, top_k, False)
    if any(t is not None for t in texts):
        clash = sorted(set(columns).intersection(TEXT_FEATURES))
        if clash:
            raise ConfigError(f"features {clash} clash with derived text features; rename them")
        for name, derived in text_features(texts).items():
            if derived.dtype == object:
                profiles[name] = _categorical_profile(name, derived, top_k, True)
            else:
                profiles[name] = _numeric_profile(name, derived, n_bins, True)
    hits = sum(bool(correct(p, y)) for p, y in outcomes)
    accuracy = hits / len(outcomes) if outcomes else None
    return Baseline(
        model,
        model_version,
        float(now),
        n,
        dict(sorted(profiles.items())),
        accuracy,
        len(outcomes),
        source,
    )


@dataclass(frozen=True, eq=False)
class BatchHistograms:
    """Counts of one batch per baseline feature, aligned with that feature's bins.

    ``missing`` counts absent, null and NaN values; the missing bin holds those plus the
    ``type_violations`` (a numeric feature receiving a string or bool). ``out_of_range`` counts
    numeric values outside the reference ``[minimum, maximum]``.
    """

    counts: dict[str, np.ndarray]
    missing: dict[str, int]
    type_violations: dict[str, int]
    out_of_range: dict[str, int]
    n: int
    unknown_features: dict[str, int] = field(default_factory=dict)

    def merge(self, other: BatchHistograms) -> BatchHistograms:
        """The histograms of both batches together (counts add up bin by bin).

        >>> a = BatchHistograms({"x": np.array([1, 0])}, {"x": 0}, {"x": 0}, {"x": 0}, 1)
        >>> a.merge(a).counts["x"].tolist(), a.merge(a).n
        ([2, 0], 2)
        """

        def add(left: Mapping[str, Any], right: Mapping[str, Any]) -> dict[str, Any]:
            keys = list(dict.fromkeys([*left, *right]))
            return {
                k: left[k] + right[k] if k in left and k in right else left.get(k, right.get(k))
                for k in keys
            }

        return BatchHistograms(
            add(self.counts, other.counts),
            add(self.missing, other.missing),
            add(self.type_violations, other.type_violations),
            add(self.out_of_range, other.out_of_range),
            self.n + other.n,
            add(self.unknown_features, other.unknown_features),
        )


def histogram_batch(
    baseline: Baseline,
    features: Sequence[Mapping[str, Any]],
    input_texts: Sequence[str | None] | None = None,
) -> BatchHistograms:
    """Count one batch of feature maps into the baseline's bins.

    Features absent from the baseline are ignored and counted in ``unknown_features``. Derived
    text features are computed from ``input_texts`` when given, and left out when it is ``None``
    (so a batch without texts does not look like all-missing text).
    """
    n = len(features)
    direct = [name for name, p in baseline.features.items() if not p.derived_from_text]
    numeric = [name for name in direct if baseline.features[name].kind == "numeric"]
    block = number_block(features, numeric)  # the usual batch: every number present and clean
    if block is None:
        columns: dict[str, Sequence[Any] | np.ndarray] = {}
        direct_columns, unknown, _ = feature_columns(features, direct, n)
    else:
        columns = dict(zip(numeric, block.T))
        rest = [name for name in direct if name not in columns]
        direct_columns, unknown, _ = feature_columns(features, rest, n, held=numeric)
    columns.update(direct_columns)
    # derived features other than the text features (prompt topics) are folded by their own stage
    derived = [
        name
        for name, p in baseline.features.items()
        if p.derived_from_text and name in TEXT_FEATURES
    ]
    if input_texts is not None:
        if len(input_texts) != n:
            raise ValueError(f"{len(input_texts)} input_texts for {n} feature maps")
        if derived:
            computed = text_features(input_texts)
            columns.update({name: computed[name] for name in derived})
    counts: dict[str, np.ndarray] = {}
    missing: dict[str, int] = {}
    violations: dict[str, int] = {}
    outside: dict[str, int] = {}
    for name, values in columns.items():
        profile = baseline.features[name]
        if isinstance(profile.bins, CategoricalBins):
            counts[name] = profile.bins.counts(values)
            missing[name], violations[name], outside[name] = int(counts[name][-1]), 0, 0
            continue
        array, bad = numeric_column(values)
        counts[name] = profile.bins.counts(array)
        violations[name] = int(bad.sum())
        missing[name] = int(counts[name][-1]) - violations[name]
        low = -math.inf if profile.minimum is None else profile.minimum
        high = math.inf if profile.maximum is None else profile.maximum
        outside[name] = int(np.count_nonzero((array < low) | (array > high)))
    return BatchHistograms(counts, missing, violations, outside, n, unknown)
