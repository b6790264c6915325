"""Rates with confidence intervals: Wilson score interval, two-proportion z-test, Newcombe difference.

All functions take plain counts (floats are accepted so that summed partial aggregates can be passed
straight in) and return plain numbers.

>>> r = wilson_interval(5, 10)
>>> r.value, round(r.low, 4), round(r.high, 4)
(0.5, 0.2366, 0.7634)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "Z95",
    "Rate",
    "difference_interval",
    "two_proportion_ztest",
    "wilson_interval",
    "wilson_sql",
]

Z95 = 1.959963984540054  # two-sided 95 % normal quantile


@dataclass(frozen=True, slots=True)
class Rate:
    """A proportion ``successes / trials`` with its interval; ``value`` is None when ``trials == 0``."""

    successes: float
    trials: float
    value: float | None
    low: float | None
    high: float | None


def _check_counts(successes: float, trials: float) -> None:
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"successes={successes}, trials={trials}: need 0 <= successes <= trials")


def wilson_interval(successes: float, trials: float, z: float = Z95) -> Rate:
    """Wilson score interval for a binomial proportion.

    Parameters
    ----------
    successes
        Number of successes, ``0 <= successes <= trials``.
    trials
        Number of trials; with 0 trials every field but the counts is None.
    z
        Normal quantile; the default gives a two-sided 95 % interval.

    Examples
    --------
    >>> r = wilson_interval(0, 10)
    >>> r.low, round(r.high, 4)
    (0.0, 0.2775)
    >>> wilson_interval(0, 0).value is None
    True
    """
    _check_counts(successes, trials)
    if trials == 0:
        return Rate(successes, trials, None, None, None)
    p = successes / trials
    z2 = z * z
    denominator = 1.0 + z2 / trials
    center = (p + z2 / (2.0 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1.0 - p) / trials + z2 / (4.0 * trials * trials))
    # clamp: rounding can put a bound a hair past p when p is 0 or 1
    return Rate(
        successes, trials, p, min(p, max(0.0, center - half)), max(p, min(1.0, center + half))
    )


def wilson_sql(p: str, n: str, z: float = Z95) -> tuple[str, str]:
    """The low and high ends of :func:`wilson_interval` as ClickHouse SQL expressions of the
    proportion ``p`` and the trial count ``n`` (column names or expressions, ``n`` > 0): the store
    computes the intervals of its rate windows with the same formula and the same clamps.

    >>> low, high = wilson_sql("p", "n")
    >>> low.startswith("least(p, greatest(0, ") and high.startswith("greatest(p, least(1, ")
    True
    """
    z2 = repr(z * z)
    center = f"({p} + {z2} / (2 * {n}))"
    half = f"({z!r} * sqrt({p} * (1 - {p}) / {n} + {z2} / (4 * {n} * {n})))"
    scale = f"(1 + {z2} / {n})"
    # clamp: rounding can put a bound a hair past p when p is 0 or 1 (as wilson_interval does)
    return (
        f"least({p}, greatest(0, ({center} - {half}) / {scale}))",
        f"greatest({p}, least(1, ({center} + {half}) / {scale}))",
    )


def two_proportion_ztest(x1: float, n1: float, x2: float, n2: float) -> tuple[float, float]:
    """Pooled two-proportion z-test of ``p1 == p2``: returns ``(z, two-sided p-value)``.

    Returns ``(0.0, 1.0)`` when the test is undefined (an empty group, or both rates 0 or 1).

    Examples
    --------
    >>> z, p = two_proportion_ztest(30, 100, 50, 100)
    >>> round(z, 3), round(p, 4)
    (-2.887, 0.0039)
    >>> two_proportion_ztest(0, 10, 0, 10)
    (0.0, 1.0)
    """
    _check_counts(x1, n1)
    _check_counts(x2, n2)
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if variance <= 0.0:
        return 0.0, 1.0
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    return z, math.erfc(abs(z) / math.sqrt(2.0))


def difference_interval(
    x1: float, n1: float, x2: float, n2: float, z: float = Z95
) -> tuple[float, float, float]:
    """Difference ``p1 - p2`` with Newcombe's hybrid Wilson-score interval (his method 10).

    Returns ``(diff, low, high)``; ``(0.0, -1.0, 1.0)`` when either group is empty.

    Examples
    --------
    Newcombe (1998), example (a): 56/70 against 48/80.

    >>> d, low, high = difference_interval(56, 70, 48, 80)
    >>> round(d, 4), round(low, 4), round(high, 4)
    (0.2, 0.0524, 0.3339)
    """
    first = wilson_interval(x1, n1, z)
    second = wilson_interval(x2, n2, z)
    if first.value is None or second.value is None:
        return 0.0, -1.0, 1.0
    assert first.low is not None and first.high is not None
    assert second.low is not None and second.high is not None
    p1, p2 = first.value, second.value
    diff = p1 - p2
    low = diff - math.sqrt((p1 - first.low) ** 2 + (second.high - p2) ** 2)
    high = diff + math.sqrt((first.high - p1) ** 2 + (p2 - second.low) ** 2)
    return diff, max(-1.0, low), min(1.0, high)
