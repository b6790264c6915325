"""Sample-ratio mismatch: are the variants' counts consistent with the planned split?

Two checks on the counts per variant, flagged on every report:

- :func:`chi_square_p`: Pearson's chi-square against the planned split (k − 1 degrees of
  freedom), as GrowthBook's ``check_srm``; a mismatch below :data:`SRM_THRESHOLD` (0.001).
- :func:`sequential_srm_p`: the always-valid Dirichlet-multinomial test of Lindon & Malek
  (arXiv 2011.03567, GrowthBook ``ssrm.py``): the Bayes factor of a Dirichlet mixture with
  concentration ``k·p`` (k = :data:`SRM_CONCENTRATION`) against the planned multinomial, p = 1/BF.
  Valid however often it is read, so it is the one that flags a mismatch (``srm``) and makes the
  decision ``invalid``; the chi-square p-value is reported beside it, as the familiar number.

>>> round(chi_square_p([5050, 4950], [0.5, 0.5]), 4)
0.3173
>>> srm = check_srm([5500, 4500], [0.5, 0.5])
>>> srm.mismatch, srm.p_value < 1e-20, srm.sequential_p_value < 1e-10
(True, True, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "SRM_CONCENTRATION",
    "SRM_THRESHOLD",
    "SrmResult",
    "check_srm",
    "chi_square_p",
    "sequential_srm_p",
]

SRM_THRESHOLD = 0.001
SRM_CONCENTRATION = 10_000.0


@dataclass(frozen=True, slots=True)
class SrmResult:
    """Both p-values. ``mismatch`` follows the sequential test, which stays valid however often it is
    read; the chi-square p-value alone, read after every batch, would cross 0.001 far more often.
    """

    p_value: float
    sequential_p_value: float
    threshold: float

    @property
    def mismatch(self) -> bool:
        return self.sequential_p_value < self.threshold


def _check(counts: Sequence[float], split: Sequence[float]) -> tuple[list[float], list[float]]:
    if len(counts) != len(split) or len(counts) < 2:
        raise ValueError(
            f"{len(counts)} counts for a split of {len(split)} variants (at least 2 each)"
        )
    if any(c < 0 for c in counts):
        raise ValueError(f"counts {list(counts)} must not be negative")
    total = sum(split)
    if any(w <= 0 for w in split) or total <= 0:
        raise ValueError(f"split {list(split)} must be positive")
    return [float(c) for c in counts], [w / total for w in split]


def _upper_gamma_regularised(a: float, x: float) -> float:
    """Q(a, x) = Γ(a, x)/Γ(a): series below a + 1, Lentz continued fraction above (Numerical Recipes)."""
    if x <= 0:
        return 1.0
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - math.lgamma(a)))
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi_square_p(counts: Sequence[float], split: Sequence[float]) -> float:
    """Pearson chi-square p-value of ``counts`` against the planned ``split`` (1.0 with no data)."""
    counts_, probs = _check(counts, split)
    n = sum(counts_)
    if n == 0:
        return 1.0
    stat = sum((c - n * p) ** 2 / (n * p) for c, p in zip(counts_, probs))
    return _upper_gamma_regularised((len(counts_) - 1) / 2, stat / 2)


def sequential_srm_p(
    counts: Sequence[float], split: Sequence[float], concentration: float = SRM_CONCENTRATION
) -> float:
    """Always-valid p-value ``min(1, 1/BF)`` of the Dirichlet-multinomial mixture against the split."""
    counts_, probs = _check(counts, split)
    alphas = [concentration * p for p in probs]
    n = sum(counts_)
    log_bf = (
        math.lgamma(sum(alphas))
        - math.lgamma(sum(alphas) + n)
        + sum(math.lgamma(a + c) - math.lgamma(a) for a, c in zip(alphas, counts_))
        - sum(c * math.log(p) for c, p in zip(counts_, probs))
    )
    return min(1.0, math.exp(-log_bf)) if log_bf > -700 else 1.0


def check_srm(
    counts: Sequence[float], split: Sequence[float], threshold: float = SRM_THRESHOLD
) -> SrmResult:
    """Both SRM checks of the counts per variant against the planned split."""
    return SrmResult(chi_square_p(counts, split), sequential_srm_p(counts, split), threshold)
