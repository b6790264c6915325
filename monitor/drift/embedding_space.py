"""The maths of embedding drift: a fixed reduction, random Fourier features and MMD² from sums.

Embeddings are L2-normalised and reduced by a seeded Gaussian random projection
(:func:`projection`), so the reduction is known to every worker without any state. Each reduced
vector ``z`` is mapped to random Fourier features ``φ(z) = sqrt(2/D) cos(z W + b)`` whose dot
product approximates the Gaussian kernel ``exp(-||z - z'||² / (2 σ²))`` (Rahimi & Recht, 2007).
With ``S = Σ φ(z)``, ``Q = Σ ||φ(z)||²`` and ``n`` per sample, the unbiased MMD² estimate is a
function of sums only (:func:`mmd2_from_sums`), so window partials merge by addition.

>>> rng = np.random.default_rng(0)
>>> rff = RandomFourierFeatures.fit(rng.normal(size=(50, 4)), n_features=64, seed=1)
>>> a, b = rff.features(rng.normal(size=(30, 4))), rff.features(rng.normal(size=(40, 4)))
>>> round(mmd2_from_sums(*feature_sums(a), *feature_sums(b)), 10) == round(mmd2_direct(a, b), 10)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "RandomFourierFeatures",
    "centroid_distance2",
    "feature_sums",
    "mmd2_direct",
    "mmd2_from_sums",
    "null_scale",
    "projection",
    "reduce",
]


def projection(input_dim: int, output_dim: int, seed: int) -> np.ndarray:
    """A fixed ``input_dim × output_dim`` Gaussian random projection (Johnson–Lindenstrauss).

    >>> projection(3, 2, 7).shape, np.array_equal(projection(3, 2, 7), projection(3, 2, 7))
    ((3, 2), True)
    """
    if input_dim < 1 or output_dim < 1:
        raise ValueError(f"projection needs positive dimensions, got {input_dim}×{output_dim}")
    rng = np.random.default_rng(seed)
    out: np.ndarray = rng.standard_normal((input_dim, output_dim)) / math.sqrt(output_dim)
    return out


def reduce(embeddings: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """L2-normalise each row (a zero row stays zero), then project with ``matrix``.

    >>> reduce(np.array([[3.0, 4.0], [0.0, 0.0]]), np.eye(2)).tolist()
    [[0.6, 0.8], [0.0, 0.0]]
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != matrix.shape[0]:
        raise ValueError(f"embeddings of shape {x.shape} do not fit a {matrix.shape} projection")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: np.ndarray = (x / np.where(norms > 0, norms, 1.0)) @ matrix
    return out


@dataclass(frozen=True, eq=False)
class RandomFourierFeatures:
    """``φ(z) = sqrt(2/D) cos(z W + b)`` with ``W ~ N(0, 1/σ²)``, ``b ~ U(0, 2π)`` from ``seed``."""

    input_dim: int
    n_features: int
    bandwidth: float
    seed: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.bandwidth) and self.bandwidth > 0):
            raise ValueError(f"bandwidth must be a positive number, got {self.bandwidth}")
        rng = np.random.default_rng(self.seed)
        weights = rng.standard_normal((self.input_dim, self.n_features)) / self.bandwidth
        object.__setattr__(self, "_weights", weights)
        object.__setattr__(self, "_offsets", rng.uniform(0.0, 2 * math.pi, self.n_features))

    @classmethod
    def fit(cls, reference: np.ndarray, *, n_features: int, seed: int) -> RandomFourierFeatures:
        """Bandwidth by the median heuristic: the median distance between reference points.

        >>> RandomFourierFeatures.fit(np.array([[0.0], [1.0], [3.0]]), n_features=4, seed=0).bandwidth
        2.0
        """
        z = np.asarray(reference, dtype=np.float64)
        take = z[:500]  # the median of 125k pairs is plenty
        sq = np.sum(take**2, axis=1)
        d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * take @ take.T, 0.0)
        upper = np.sqrt(d2[np.triu_indices(len(take), k=1)])
        positive = upper[upper > 0]
        bandwidth = float(np.median(positive)) if positive.size else 1.0
        return cls(z.shape[1], n_features, bandwidth, seed)

    def features(self, reduced: np.ndarray) -> np.ndarray:
        """``φ`` of each row of ``reduced``: shape ``(n, n_features)``."""
        w: np.ndarray = self._weights  # type: ignore[attr-defined]
        b: np.ndarray = self._offsets  # type: ignore[attr-defined]
        out: np.ndarray = math.sqrt(2.0 / self.n_features) * np.cos(reduced @ w + b)
        return out


def feature_sums(phi: np.ndarray) -> tuple[np.ndarray, float, int]:
    """``(S, Q, n)``: the column sums, the sum of squared row norms and the row count."""
    return phi.sum(axis=0), float(np.sum(phi * phi)), int(phi.shape[0])


def mmd2_from_sums(
    s_w: np.ndarray, q_w: float, n_w: int, s_r: np.ndarray, q_r: float, n_r: int
) -> float:
    """Unbiased MMD² of two samples under the kernel ``φ(x)·φ(y)``, from their sums.

    ``(||S_w||² − Q_w)/(n_w(n_w−1)) + (||S_r||² − Q_r)/(n_r(n_r−1)) − 2 S_w·S_r/(n_w n_r)``;
    it can be slightly negative when both samples come from one distribution.

    >>> s = np.array([1.0, 1.0])
    >>> mmd2_from_sums(s, 1.0, 2, s, 1.0, 2)
    0.0
    """
    if n_w < 2 or n_r < 2:
        raise ValueError(f"MMD² needs at least 2 points per sample, got {n_w} and {n_r}")
    within_w = (float(s_w @ s_w) - q_w) / (n_w * (n_w - 1))
    within_r = (float(s_r @ s_r) - q_r) / (n_r * (n_r - 1))
    return within_w + within_r - 2.0 * float(s_w @ s_r) / (n_w * n_r)


def mmd2_direct(phi_w: np.ndarray, phi_r: np.ndarray) -> float:
    """The same estimator from the kernel matrices, pair by pair (the check of the sums)."""
    k_ww, k_rr, k_wr = phi_w @ phi_w.T, phi_r @ phi_r.T, phi_w @ phi_r.T
    n_w, n_r = len(phi_w), len(phi_r)
    off_w = (k_ww.sum() - np.trace(k_ww)) / (n_w * (n_w - 1))
    off_r = (k_rr.sum() - np.trace(k_rr)) / (n_r * (n_r - 1))
    return float(off_w + off_r - 2.0 * k_wr.mean())


def centroid_distance2(sum_w: np.ndarray, n_w: float, sum_r: np.ndarray, n_r: float) -> float:
    """Squared Euclidean distance between the two means, from the sums.

    >>> centroid_distance2(np.array([2.0, 0.0]), 2, np.array([0.0, 3.0]), 3)
    2.0
    """
    diff = sum_w / n_w - sum_r / n_r
    return float(diff @ diff)


def null_scale(n_w: float, n_r: float) -> float:
    """How both statistics shrink with sample sizes when nothing moved: ``1/n_w + 1/n_r``.

    Thresholds are calibrated as a multiple of this scale, so one calibration serves windows of
    any size.

    >>> null_scale(100, 900)
    0.011111111111111112
    """
    return 1.0 / n_w + 1.0 / n_r
