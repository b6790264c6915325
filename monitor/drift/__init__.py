"""Input drift math: bins fixed from a reference sample (:mod:`~monitor.drift.binning`) and
divergences between count vectors with explicit epsilon smoothing and PSI severity classes
(:mod:`~monitor.drift.divergence`). Pure and numpy-vectorized; see ``docs/drift.md``.
"""

from __future__ import annotations

from monitor.drift.binning import (
    MISSING,
    OTHER,
    CategoricalBins,
    NumericBins,
    categorical_bins_from_reference,
    numeric_bins_from_reference,
)
from monitor.drift.divergence import (
    EPSILON,
    SEVERITIES,
    DriftScore,
    SeverityThresholds,
    js_distance,
    kl_divergence,
    psi,
    score_feature,
    smoothed_proportions,
)

__all__ = [
    "EPSILON",
    "MISSING",
    "OTHER",
    "SEVERITIES",
    "CategoricalBins",
    "DriftScore",
    "NumericBins",
    "SeverityThresholds",
    "categorical_bins_from_reference",
    "js_distance",
    "kl_divergence",
    "numeric_bins_from_reference",
    "psi",
    "score_feature",
    "smoothed_proportions",
]
