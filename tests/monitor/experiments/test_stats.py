"""The comparison against straightforward numpy/scipy computations and known values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from monitor.experiments.stats import Moments, always_valid_p, compare, half_width, mixture_rho


def test_moments_merge_like_the_concatenated_arrays():
    rng = np.random.default_rng(0)
    y, x = rng.normal(size=300), rng.normal(size=300)
    merged = Moments.of(y[:100], x[:100]) + Moments.of(y[100:], x[100:])
    whole = Moments.of(y, x)
    assert merged.n == whole.n and math.isclose(merged.sum_xy, whole.sum_xy)
    var_y, _var_x, cov = merged.covariance()
    assert math.isclose(var_y, np.var(y, ddof=1)) and math.isclose(cov, np.cov(x, y)[0, 1])


def test_p_value_and_interval_agree_and_match_the_mixture_sprt():
    rng = np.random.default_rng(1)
    c, t = Moments.of(rng.normal(0, 1, 3000)), Moments.of(rng.normal(0.08, 1, 3000))
    r = compare(c, t, tuning=6000)
    assert r.significant == (r.ci_low > 0 or r.ci_high < 0) == (r.p_value < 0.05)
    # Johari et al.: Λ = sqrt(V/(V+nτ²)) exp(n²τ²Δ²/(2V(V+nτ²))) with V = s², τ² = ρ²s²
    n, v, tau2 = 6000, r.variance_per_unit, mixture_rho(0.05, 6000) ** 2 * r.variance_per_unit
    lam = math.sqrt(v / (v + n * tau2)) * math.exp(
        n**2 * tau2 * r.diff**2 / (2 * v * (v + n * tau2))
    )
    assert math.isclose(r.p_value, min(1, 1 / lam), rel_tol=1e-9)


def test_the_sequence_is_wider_than_the_fixed_horizon_interval_and_shrinks():
    widths = [float(half_width(1.0, n, mixture_rho(0.05, 5000), 0.05)) for n in (1000, 5000, 50000)]
    assert widths[0] > widths[1] > widths[2]
    assert widths[1] * math.sqrt(5000) == pytest.approx(3.03, abs=0.01)  # 1.96 at a fixed horizon


def test_ratio_metric_variance_is_the_delta_method_and_matches_a_bootstrap():
    rng = np.random.default_rng(2)
    turns_c = rng.integers(1, 8, 4000).astype(float)
    turns_t = rng.integers(1, 8, 4000).astype(float)
    good_c, good_t = rng.binomial(turns_c.astype(int), 0.5), rng.binomial(turns_t.astype(int), 0.5)
    r = compare(Moments.of(good_c, turns_c), Moments.of(good_t, turns_t), kind="ratio")
    assert r.value_control == pytest.approx(good_c.sum() / turns_c.sum())
    boot = []
    for _ in range(300):
        i = rng.integers(0, 4000, 4000)
        boot.append(good_c[i].sum() / turns_c[i].sum())
    var_c = r.variance_per_unit / 8000 / 2  # both arms alike: half of Var(Δ̂)
    assert var_c == pytest.approx(np.var(boot), rel=0.3)


def test_cuped_shrinks_the_interval_by_the_correlation():
    rng = np.random.default_rng(3)
    x_c, x_t = rng.normal(size=5000), rng.normal(size=5000)
    y_c, y_t = x_c + rng.normal(scale=0.5, size=5000), x_t + 0.05 + rng.normal(scale=0.5, size=5000)
    plain = compare(Moments.of(y_c, x_c), Moments.of(y_t, x_t))
    adjusted = compare(Moments.of(y_c, x_c), Moments.of(y_t, x_t), cuped=True)
    assert adjusted.ci_high - adjusted.ci_low < 0.5 * (plain.ci_high - plain.ci_low)
    assert adjusted.ci_low < 0.05 < adjusted.ci_high


def test_too_little_data_gives_no_decision():
    r = compare(Moments.of(np.array([1.0])), Moments.of(np.array([0.0, 1.0])))
    assert not r.significant and r.p_value == 1.0 and math.isnan(r.ci_low)


def test_p_value_is_one_without_a_difference():
    assert float(always_valid_p(0.0, 1.0, 100.0, 0.05)) == 1.0
    assert sps.norm.sf(0) == 0.5  # scipy present as the reference library of these tests
