"""Divergences between a current and a reference histogram, and their severity.

Inputs are COUNT vectors over the same bins (see :mod:`monitor.drift.binning`). Counts become
proportions smoothed with an explicit ``epsilon`` so that empty bins never give an infinite or
NaN score::

    p_i = (c_i / n + epsilon) / (1 + k * epsilon)        (p_i = 1 / k when n == 0)

where ``n`` is the total count and ``k`` the number of bins. Every proportion is then at least
``epsilon / (1 + k * epsilon)``, so a log ratio is bounded by about ``ln(1 / epsilon)``.

>>> round(psi(np.array([50, 50]), np.array([50, 50])), 6)
0.0
>>> round(psi(np.array([90, 10]), np.array([50, 50])), 4)
0.8784
>>> score_feature("lang", np.array([90, 10]), np.array([50, 50])).severity
'significant'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "EPSILON",
    "SEVERITIES",
    "DriftScore",
    "SeverityThresholds",
    "js_distance",
    "kl_divergence",
    "psi",
    "score_feature",
    "smoothed_proportions",
]

EPSILON = 1e-4
SEVERITIES = ("none", "moderate", "significant")


def _counts(name: str, values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D count vector, got shape {array.shape}")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{name}: counts must be finite and >= 0, got {array.tolist()}")
    return array


def smoothed_proportions(counts: np.ndarray, epsilon: float = EPSILON) -> np.ndarray:
    """Proportions of ``counts`` with additive ``epsilon`` smoothing; they sum to 1.

    >>> smoothed_proportions(np.array([3, 1, 0]), epsilon=0.0).tolist()
    [0.75, 0.25, 0.0]
    >>> smoothed_proportions(np.array([0, 0])).tolist()
    [0.5, 0.5]
    """
    if not (math.isfinite(epsilon) and epsilon >= 0):
        raise ValueError(f"epsilon must be finite and >= 0, got {epsilon}")
    array = _counts("counts", counts)
    total = array.sum()
    if total == 0:
        return np.full(array.size, 1.0 / array.size)
    smoothed: np.ndarray = (array / total + epsilon) / (1.0 + array.size * epsilon)
    return smoothed


def _pair(
    current: np.ndarray, reference: np.ndarray, epsilon: float
) -> tuple[np.ndarray, np.ndarray]:
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be finite and > 0, got {epsilon}")
    p, q = _counts("current", current), _counts("reference", reference)
    if p.size != q.size:
        raise ValueError(f"current has {p.size} bins but reference has {q.size}")
    return smoothed_proportions(p, epsilon), smoothed_proportions(q, epsilon)


def psi(current: np.ndarray, reference: np.ndarray, epsilon: float = EPSILON) -> float:
    """Population stability index ``sum((p - q) * ln(p / q))`` of two count vectors.

    Symmetric, >= 0, and equal to ``KL(p||q) + KL(q||p)``.

    >>> round(psi(np.array([10, 0]), np.array([0, 10])), 3)
    18.417
    """
    p, q = _pair(current, reference, epsilon)
    return float(np.sum((p - q) * np.log(p / q)))


def kl_divergence(current: np.ndarray, reference: np.ndarray, epsilon: float = EPSILON) -> float:
    """Kullback-Leibler divergence ``KL(current || reference)`` in nats.

    >>> round(kl_divergence(np.array([1, 1]), np.array([1, 3])), 4)
    0.1438
    """
    p, q = _pair(current, reference, epsilon)
    # Mathematically >= 0; the clip only removes float rounding below zero.
    return max(0.0, float(np.sum(p * np.log(p / q))))


def js_distance(current: np.ndarray, reference: np.ndarray, epsilon: float = EPSILON) -> float:
    """Jensen-Shannon distance in base 2: the square root of the JS divergence, in ``[0, 1]``.

    >>> js_distance(np.array([1, 1]), np.array([1, 1]))
    0.0
    >>> round(js_distance(np.array([10, 0]), np.array([0, 10])), 3)
    0.999
    """
    p, q = _pair(current, reference, epsilon)
    m = (p + q) / 2.0
    divergence = 0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.sum(q * np.log2(q / m))
    return float(math.sqrt(min(1.0, max(0.0, float(divergence)))))


@dataclass(frozen=True)
class SeverityThresholds:
    """PSI thresholds: below ``moderate`` is ``none``, from ``significant`` on is ``significant``.

    >>> SeverityThresholds().classify(0.1), SeverityThresholds().classify(0.3)
    ('moderate', 'significant')
    """

    moderate: float = 0.1
    significant: float = 0.25

    def __post_init__(self) -> None:
        m, s = self.moderate, self.significant
        if not (math.isfinite(m) and math.isfinite(s) and 0 < m < s):
            raise ValueError(f"need 0 < moderate < significant, got moderate={m}, significant={s}")

    def classify(self, psi_value: float) -> str:
        """One of :data:`SEVERITIES` for a PSI value."""
        if math.isnan(psi_value):
            raise ValueError("psi is NaN")
        if psi_value >= self.significant:
            return "significant"
        if psi_value >= self.moderate:
            return "moderate"
        return "none"


@dataclass(frozen=True)
class DriftScore:
    """Drift of one feature over one window against its baseline."""

    feature: str
    psi: float
    kl: float
    js: float
    n_current: int
    n_reference: int
    severity: str


def score_feature(
    feature: str,
    current_counts: np.ndarray,
    reference_counts: np.ndarray,
    thresholds: SeverityThresholds = SeverityThresholds(),
    epsilon: float = EPSILON,
) -> DriftScore:
    """PSI, KL and JS of ``current_counts`` against ``reference_counts``, classified by PSI.

    An all-zero current vector scores as a uniform histogram; callers should not score windows
    below their minimum sample size (``n_current`` says how many values were seen).

    >>> s = score_feature("x", np.array([5, 5]), np.array([5, 5]))
    >>> s.psi, s.js, s.n_current, s.severity
    (0.0, 0.0, 10, 'none')
    """
    value = psi(current_counts, reference_counts, epsilon)
    return DriftScore(
        feature=feature,
        psi=value,
        kl=kl_divergence(current_counts, reference_counts, epsilon),
        js=js_distance(current_counts, reference_counts, epsilon),
        n_current=int(np.sum(current_counts)),
        n_reference=int(np.sum(reference_counts)),
        severity=thresholds.classify(value),
    )
