from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from monitor.outcomes.intervals import (
    Z95,
    difference_interval,
    two_proportion_ztest,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (0, 10, 0.0, 0.2775),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
        (81, 263, 0.2553, 0.3662),  # Newcombe (1998) example
    ],
)
def test_wilson_known_values(successes: int, trials: int, low: float, high: float) -> None:
    rate = wilson_interval(successes, trials)
    assert rate.value == successes / trials
    assert rate.low == pytest.approx(low, abs=5e-5)
    assert rate.high == pytest.approx(high, abs=5e-5)


def test_wilson_with_no_trials_has_no_value() -> None:
    rate = wilson_interval(0, 0)
    assert (rate.value, rate.low, rate.high) == (None, None, None)


def test_wilson_rejects_more_successes_than_trials() -> None:
    with pytest.raises(ValueError, match="successes=11"):
        wilson_interval(11, 10)


def _wilson_by_quadratic(x: int, n: int, z: float) -> tuple[float, float]:
    """The bounds as roots of (p - x/n)^2 = z^2 p (1 - p) / n, solved as a quadratic in p."""
    a = 1 + z * z / n
    b = -(2 * x / n + z * z / n)
    c = (x / n) ** 2
    root = math.sqrt(max(b * b - 4 * a * c, 0.0))
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


@given(
    st.integers(1, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.sampled_from([1.0, 1.6448536269514722, Z95, 2.5758293035489004]),
)
def test_wilson_matches_the_quadratic_roots(counts: tuple[int, int], z: float) -> None:
    x, n = counts
    rate = wilson_interval(x, n, z)
    low, high = _wilson_by_quadratic(x, n, z)
    assert rate.low == pytest.approx(low, abs=1e-9)
    assert rate.high == pytest.approx(high, abs=1e-9)
    assert rate.low <= rate.value <= rate.high


@given(st.integers(1, 5000), st.integers(1, 5000), st.data())
def test_ztest_matches_scipy_normal(n1: int, n2: int, data: st.DataObject) -> None:
    x1 = data.draw(st.integers(0, n1))
    x2 = data.draw(st.integers(0, n2))
    z, p = two_proportion_ztest(x1, n1, x2, n2)
    pooled = (x1 + x2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        assert (z, p) == (0.0, 1.0)
        return
    expected_z = (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    assert z == pytest.approx(expected_z, rel=1e-9, abs=1e-12)
    assert p == pytest.approx(2 * stats.norm.sf(abs(expected_z)), rel=1e-6, abs=1e-300)


def test_ztest_undefined_cases() -> None:
    assert two_proportion_ztest(0, 0, 3, 10) == (0.0, 1.0)
    assert two_proportion_ztest(10, 10, 20, 20) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "low", "high"),
    [  # Newcombe (1998), Table II, method 10
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0),
    ],
)
def test_difference_interval_matches_newcombe(x1, n1, x2, n2, low, high) -> None:
    diff, lo, hi = difference_interval(x1, n1, x2, n2)
    assert diff == pytest.approx(x1 / n1 - x2 / n2)
    assert lo == pytest.approx(low, abs=1e-4)
    assert hi == pytest.approx(high, abs=1e-4)


def test_difference_interval_with_an_empty_group_is_uninformative() -> None:
    assert difference_interval(3, 10, 0, 0) == (0.0, -1.0, 1.0)
