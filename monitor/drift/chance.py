"""The PSI a window shows by chance alone: what ``n`` values drawn from the baseline itself score.

PSI grows as windows shrink: a window of 100 values from an unchanged distribution of 16
categories scores ``significant`` (≥ 0.25) about 4 times in 10, since each rare category it misses
adds about ``q · ln(q / ε)``. A score is taken as drift only above :func:`chance_psi`, the PSI that
``n`` values drawn from the baseline's own proportions exceed in one window of 1,000
(:data:`CHANCE_QUANTILE`), estimated from :data:`CHANCE_DRAWS` such windows, each scored against a
reference of the baseline's size drawn from the same proportions: a baseline is a sample too, and
one of a few hundred values differs from the distribution it came from by as much as a window does
(scored against the baseline as if it were exact, windows of 270 values of an unchanged
distribution crossed that limit in 1.2 % of windows with a baseline of 500, not 0.1 %). The draws are seeded
by the reference counts and ``n``, so every process finds the same limit, and ``n`` is rounded down
to a grid of quarter powers of two (a smaller window's limit is higher: the rounding only ever
raises it) so that a leader computes it once per baseline, feature and window size.

>>> import numpy as np
>>> reference = np.array([500, 300, 100, 50, 30, 20])
>>> round(chance_psi(reference, 100), 2) > 0.1 > round(chance_psi(reference, 10_000), 3)
True
"""

from __future__ import annotations

import math
import zlib
from functools import lru_cache

import numpy as np

from monitor.drift.divergence import EPSILON

__all__ = ["CHANCE_DRAWS", "CHANCE_QUANTILE", "chance_psi", "window_size_grid"]

CHANCE_QUANTILE = 0.999  # one window in 1,000 of an unchanged distribution scores above the limit
CHANCE_DRAWS = 4000


def window_size_grid(n: int) -> int:
    """``n`` rounded down to the grid 2^(k/4) (100 → 90, 1000 → 861).

    >>> [window_size_grid(n) for n in (1, 2, 100, 1000)]
    [1, 2, 90, 861]
    """
    if n < 1:
        raise ValueError(f"window size {n} must be >= 1")
    return max(int(2 ** (math.floor(math.log2(n) * 4) / 4)), 1)


def chance_psi(reference_counts: np.ndarray, n: int, epsilon: float = EPSILON) -> float:
    """The PSI that windows of ``n`` values drawn from ``reference_counts``' proportions stay under
    with probability :data:`CHANCE_QUANTILE`, each against a reference of as many values as
    ``reference_counts`` holds drawn from them too."""
    counts = np.asarray(reference_counts, dtype=float)
    return _chance_psi(counts.tobytes(), counts.size, window_size_grid(n), epsilon)


@lru_cache(maxsize=65_536)
def _chance_psi(reference: bytes, bins: int, n: int, epsilon: float) -> float:
    counts = np.frombuffer(reference, dtype=float, count=bins)
    total = counts.sum()
    if total <= 0:
        return 0.0
    rng = np.random.default_rng(zlib.crc32(reference) ^ (n << 1))
    shares, size = counts / total, max(round(total), 1)
    window = rng.multinomial(n, shares, size=CHANCE_DRAWS)
    baseline = rng.multinomial(size, shares, size=CHANCE_DRAWS)
    p, q = _smoothed_rows(window, n, epsilon), _smoothed_rows(baseline, size, epsilon)
    scores = np.sum((p - q) * np.log(p / q), axis=1)
    return float(np.quantile(scores, CHANCE_QUANTILE))


def _smoothed_rows(drawn: np.ndarray, size: int, epsilon: float) -> np.ndarray:
    """:func:`~monitor.drift.divergence.smoothed_proportions` of each row of counts summing to ``size``."""
    smoothed: np.ndarray = (drawn / size + epsilon) / (1.0 + drawn.shape[1] * epsilon)
    return smoothed
