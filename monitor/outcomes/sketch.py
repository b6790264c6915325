"""Mergeable quantile sketches with a relative-error guarantee (DDSketch's logarithmic mapping).

A value ``v > 0`` goes to bucket ``ceil(log(v) / log(gamma))`` with ``gamma = (1 + a) / (1 - a)``;
a bucket is reported as ``2 * gamma**k / (gamma + 1)``, which is within relative error ``a`` of
every value in it (Masson, Rim and Lee, "DDSketch", VLDB 2019). Values at or below
:data:`MIN_VALUE` (zero included) share the zero bucket, reported as 0. Sketches merge by adding
the counts of equal buckets, so per-batch partials summed in the store give the exact sketch of
the whole window, whatever the batching or the number of workers.

The ``q`` quantile is the value of rank ``floor(q * (n - 1))`` (0-based) in sorted order, as in
DDSketch and ``numpy.quantile(..., method="lower")``: the answer is within ``a`` of that value.

>>> keys, counts = sketch_counts(np.array([812.0]))
>>> round(quantile_from_sketch(keys, counts, 0.5), 1)
808.4
>>> abs(quantile_from_sketch(keys, counts, 0.5) - 812.0) <= RELATIVE_ACCURACY * 812.0
True

People read a quantile with the :data:`SIGNIFICANT_DIGITS` that accuracy supports
(:func:`quantile_text`); the store and machine-readable output keep the bucket's exact value.

>>> quantile_text(quantile_from_sketch(keys, counts, 0.5))
'808'
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from monitor.catalogue.outcome import QUANTILE_RELATIVE_ACCURACY

__all__ = [
    "RELATIVE_ACCURACY",
    "SIGNIFICANT_DIGITS",
    "ZERO_KEY",
    "bucket_key",
    "bucket_value",
    "quantile_from_sketch",
    "quantile_text",
    "sketch_counts",
]

RELATIVE_ACCURACY = (
    QUANTILE_RELATIVE_ACCURACY  # declared by the catalogue with the quantile metrics
)
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
MIN_VALUE = 1e-9  # smaller values (and 0) land in the zero bucket
ZERO_KEY = -(2**31)  # the zero bucket's key: below every key of a positive value


def _significant_digits(accuracy: float) -> int:
    """The fewest significant digits whose rounding moves a value by at most ``accuracy`` of it:
    half a unit of the last digit, against a leading digit of 1 (0.005 -> 3, 0.01 -> 3, 0.05 -> 2).

    >>> _significant_digits(0.005), _significant_digits(0.01), _significant_digits(0.05)
    (3, 3, 2)
    """
    digits = 1
    while Decimal(5).scaleb(-digits) > Decimal(repr(accuracy)):
        digits += 1
    return digits


SIGNIFICANT_DIGITS = _significant_digits(RELATIVE_ACCURACY)  # what a printed quantile is worth


def bucket_key(values: np.ndarray) -> np.ndarray:
    """Bucket of each value (int64); values at or below :data:`MIN_VALUE` get :data:`ZERO_KEY`.

    >>> bucket_key(np.array([0.0, 1.0, 1.005, 1.006])).tolist()[1:]
    [0, 1, 1]
    """
    values = np.asarray(values, dtype=np.float64)
    keys = np.full(values.shape, ZERO_KEY, dtype=np.int64)
    positive = values > MIN_VALUE
    keys[positive] = np.ceil(np.log(values[positive]) / _LOG_GAMMA).astype(np.int64)
    return keys


def bucket_value(keys: np.ndarray) -> np.ndarray:
    """The value reported for each bucket: within :data:`RELATIVE_ACCURACY` of all its values."""
    keys = np.asarray(keys, dtype=np.int64)
    out = 2.0 * np.power(GAMMA, keys.astype(np.float64)) / (GAMMA + 1.0)
    return np.where(keys == ZERO_KEY, 0.0, out)


def sketch_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted bucket keys and their counts for a batch of values; NaN is ignored.

    >>> sketch_counts(np.array([1.0, 1.0, 100.0, np.nan]))[1].tolist()
    [2, 1]
    """
    values = np.asarray(values, dtype=np.float64)
    keys, counts = np.unique(bucket_key(values[~np.isnan(values)]), return_counts=True)
    return keys, counts.astype(np.int64)


def quantile_from_sketch(keys: np.ndarray, counts: np.ndarray, q: float) -> float | None:
    """The ``q`` quantile of (merged) bucket counts; None when there are none.

    ``keys`` need not be sorted or unique: equal keys are added up (that is the merge).

    >>> (k1, c1), (k2, c2) = sketch_counts(np.array([10.0, 20.0])), sketch_counts(np.array([20.0, 400.0]))
    >>> round(quantile_from_sketch(np.concatenate([k1, k2]), np.concatenate([c1, c2]), 0.5), 1)
    20.0
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q: {q} is outside 0-1")
    keys = np.asarray(keys, dtype=np.int64)
    unique, inverse = np.unique(keys, return_inverse=True)
    merged = np.bincount(
        inverse.reshape(-1), weights=np.asarray(counts, dtype=np.float64), minlength=len(unique)
    )
    total = merged.sum()
    if total <= 0:
        return None
    rank = math.floor(q * (total - 1))
    index = int(np.searchsorted(np.cumsum(merged), rank, side="right"))
    return float(bucket_value(unique[min(index, len(unique) - 1)]))


def quantile_text(value: float) -> str:
    """A quantile as people read it: :data:`SIGNIFICANT_DIGITS` significant digits (halves away
    from zero), in fixed-point notation, so the text is within :data:`RELATIVE_ACCURACY` of
    ``value``; 0 and non-finite values as ``format(value, "g")``.

    >>> quantile_text(119.70464000641059), quantile_text(1230.34), quantile_text(0.79850474)
    ('120', '1230', '0.799')
    >>> quantile_text(999.7), quantile_text(12.0), quantile_text(0.0)
    ('1000', '12.0', '0')
    """
    if value == 0 or not math.isfinite(value):
        return format(value, "g")
    exact = Decimal(value)
    last = Decimal(1).scaleb(exact.adjusted() - SIGNIFICANT_DIGITS + 1)
    return format(exact.quantize(last, ROUND_HALF_UP), "f")
