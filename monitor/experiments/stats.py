"""Always-valid comparison of two variants from mergeable sufficient statistics.

Each arm is summarised by :class:`Moments` (n, Σy, Σy² and, for a covariate or a ratio
denominator x, Σx, Σx², Σxy); moments of any number of partials add up. :func:`compare` turns the
control and treatment moments into a difference, a relative lift and their **always-valid**
confidence sequences: the asymptotic normal-mixture confidence sequence of Waudby-Smith et al.
(arXiv 2103.06476, eq. 161), as in GrowthBook's ``SequentialTwoSidedTTest``. With
``N`` the total sample, ``s² = N·Var(Δ̂)`` and the mixture parameter ``ρ``::

    half_width = sqrt(s²) · sqrt( 2(Nρ²+1) / (Nρ)² · ln( sqrt(Nρ²+1) / α ) )
    ρ          = sqrt( (−2 ln α + ln(−2 ln α + 1)) / N* )

``N*`` (the *tuning*, GrowthBook's ``sequential_tuning_parameter``) is the sample size at which the
interval is tightest. The always-valid p-value is the α at which the interval touches 0, which is
the mixture SPRT's ``1/Λ`` (Johari et al., Optimizely Stats Engine) with mixing variance ``ρ²s²``::

    p = min(1, sqrt(Nρ²+1) · exp(−N²ρ²Δ̂² / (2 s² (Nρ²+1))))

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> c = Moments.of(rng.normal(10.0, 2.0, 4000))
>>> t = Moments.of(rng.normal(10.5, 2.0, 4000))
>>> r = compare(c, t, alpha=0.05, tuning=8000)
>>> r.significant, round(r.diff, 2), r.ci_low < 0.5 < r.ci_high
(True, 0.56, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

__all__ = [
    "Comparison",
    "Moments",
    "always_valid_p",
    "boundary_z",
    "compare",
    "half_width",
    "mixture_rho",
    "planned_sample_size",
]

Kind = Literal["mean", "ratio"]


@dataclass(frozen=True, slots=True)
class Moments:
    """Sufficient statistics of one arm: y is the metric, x a covariate or a ratio's denominator."""

    n: float = 0.0
    sum_y: float = 0.0
    sum_y2: float = 0.0
    sum_x: float = 0.0
    sum_x2: float = 0.0
    sum_xy: float = 0.0

    @classmethod
    def of(cls, y: np.ndarray, x: np.ndarray | None = None) -> Moments:
        """The moments of arrays of values (``x`` optional)."""
        y = np.asarray(y, dtype=np.float64)
        if x is None:
            return cls(float(y.size), float(y.sum()), float((y * y).sum()))
        x = np.asarray(x, dtype=np.float64)
        return cls(
            float(y.size),
            float(y.sum()),
            float((y * y).sum()),
            float(x.sum()),
            float((x * x).sum()),
            float((x * y).sum()),
        )

    def __add__(self, other: Moments) -> Moments:
        return Moments(
            self.n + other.n,
            self.sum_y + other.sum_y,
            self.sum_y2 + other.sum_y2,
            self.sum_x + other.sum_x,
            self.sum_x2 + other.sum_x2,
            self.sum_xy + other.sum_xy,
        )

    @property
    def mean_y(self) -> float:
        return self.sum_y / self.n if self.n else math.nan

    @property
    def mean_x(self) -> float:
        return self.sum_x / self.n if self.n else math.nan

    def covariance(self) -> tuple[float, float, float]:
        """Sample variance of y, of x and their covariance (denominator n − 1)."""
        if self.n < 2:
            return math.nan, math.nan, math.nan
        d = self.n - 1
        var_y = max(self.sum_y2 - self.sum_y**2 / self.n, 0.0) / d
        var_x = max(self.sum_x2 - self.sum_x**2 / self.n, 0.0) / d
        cov = (self.sum_xy - self.sum_y * self.sum_x / self.n) / d
        return var_y, var_x, cov


@dataclass(frozen=True, slots=True)
class Comparison:
    """Treatment minus control, with always-valid intervals (absolute and relative)."""

    n_control: float
    n_treatment: float
    value_control: float
    value_treatment: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    lift: float
    lift_ci_low: float
    lift_ci_high: float
    significant: bool
    variance_per_unit: float  # s² = N·Var(Δ̂): what the planned sample size scales with


def mixture_rho(alpha: float, tuning: float) -> float:
    """ρ of the normal mixture that makes the sequence tightest at ``tuning`` observations.

    >>> round(mixture_rho(0.05, 5000), 5)
    0.03984
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha {alpha} is not in (0, 1)")
    if tuning <= 0:
        raise ValueError(f"tuning {tuning} must be positive")
    k = -2 * math.log(alpha)
    return math.sqrt((k + math.log(k + 1)) / tuning)


def boundary_z(n: float | np.ndarray, rho: float, alpha: float) -> float | np.ndarray:
    """The half-width in standard errors of Δ̂ (1.96 for a fixed-horizon 95 % test; 3.04 at n = N*)."""
    nr = np.asarray(n, dtype=np.float64) * rho**2
    return np.sqrt(2 * (nr + 1) / nr * np.log(np.sqrt(nr + 1) / alpha))


def half_width(
    s2: float | np.ndarray, n: float | np.ndarray, rho: float, alpha: float
) -> float | np.ndarray:
    """Half-width of the confidence sequence of Δ̂ with ``s² = N·Var(Δ̂)`` after ``n`` observations."""
    n = np.asarray(n, dtype=np.float64)
    return np.sqrt(s2 / n) * boundary_z(n, rho, alpha)


def always_valid_p(
    diff: float | np.ndarray, s2: float | np.ndarray, n: float | np.ndarray, rho: float
) -> float | np.ndarray:
    """The mixture-SPRT p-value ``min(1, 1/Λ)`` of H0: Δ = 0 (does not depend on α)."""
    nr = np.asarray(n, dtype=np.float64) * rho**2
    with np.errstate(divide="ignore", invalid="ignore"):
        log_inv = 0.5 * np.log(nr + 1) - np.asarray(n) * nr * np.square(diff) / (2 * s2 * (nr + 1))
    return np.minimum(1.0, np.exp(np.nan_to_num(log_inv, nan=0.0)))


def planned_sample_size(mde: float, s2: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Total sample at which an absolute effect ``mde`` is detected with probability ``power``.

    Tuned at itself (``N* = N``), ``Nρ² = −2 ln α + ln(−2 ln α + 1)`` is a constant, so the
    boundary is a constant ``c`` (3.04 for α = 0.05) and ``N = s² (c + z_power)² / mde²``: about
    1.9 times the fixed-horizon sample.

    >>> round(planned_sample_size(0.5, 8.0) / (8.0 * (1.959964 + 0.841621) ** 2 / 0.25), 2)
    1.91
    """
    if mde <= 0 or not math.isfinite(mde):
        raise ValueError(f"minimum detectable effect {mde} must be positive")
    k = -2 * math.log(alpha)
    c = float(boundary_z(1.0, math.sqrt(k + math.log(k + 1)), alpha))
    return s2 * (c + NormalDist().inv_cdf(power)) ** 2 / mde**2


def _arm(m: Moments, kind: Kind) -> tuple[float, float]:
    """Point value and Var(value) of one arm (ratio: delta method, Σy/Σx per unit)."""
    var_y, var_x, cov = m.covariance()
    if kind == "mean":
        return m.mean_y, var_y / m.n
    ratio = m.sum_y / m.sum_x if m.sum_x else math.nan
    mx = m.mean_x
    return ratio, (var_y - 2 * ratio * cov + ratio**2 * var_x) / (mx**2 * m.n)


def _cuped(c: Moments, t: Moments) -> tuple[tuple[float, float], tuple[float, float]]:
    """Regression-adjusted (CUPED) value and variance per arm, θ pooled over both arms."""
    pooled = c + t
    _, var_x, cov = pooled.covariance()
    theta = cov / var_x if var_x > 0 else 0.0
    out = []
    for m in (c, t):
        vy, vx, cxy = m.covariance()
        value = m.mean_y - theta * (m.mean_x - pooled.mean_x)
        out.append((value, max(vy - 2 * theta * cxy + theta**2 * vx, 0.0) / m.n))
    return out[0], out[1]


def compare(
    control: Moments,
    treatment: Moments,
    *,
    alpha: float = 0.05,
    tuning: float = 5000.0,
    kind: Kind = "mean",
    cuped: bool = False,
) -> Comparison:
    """Treatment minus control with always-valid intervals at level ``1 − alpha``.

    ``kind="ratio"`` compares Σy/Σx per arm (delta method); ``cuped`` adjusts means by the
    covariate x (ignored for ratios). Fewer than two units in an arm gives NaN values.
    """
    if cuped and kind == "mean":
        (vc, var_c), (vt, var_t) = _cuped(control, treatment)
    else:
        vc, var_c = _arm(control, kind) if control.n >= 2 else (control.mean_y, math.nan)
        vt, var_t = _arm(treatment, kind) if treatment.n >= 2 else (treatment.mean_y, math.nan)
    n = control.n + treatment.n
    rho = mixture_rho(alpha, tuning)
    diff = vt - vc
    var = var_c + var_t
    if not (math.isfinite(var) and var > 0):
        nan = math.nan
        return Comparison(
            control.n, treatment.n, vc, vt, diff, nan, nan, 1.0, nan, nan, nan, False, nan
        )
    s2 = n * var
    width = float(half_width(s2, n, rho, alpha))
    p = float(always_valid_p(diff, s2, n, rho))
    lift = lift_low = lift_high = math.nan
    if vc:
        lift = vt / vc - 1  # delta method: Var(vt/vc) ≈ Var(vt)/vc² + vt²·Var(vc)/vc⁴
        lift_width = float(half_width(n * (var_t / vc**2 + vt**2 * var_c / vc**4), n, rho, alpha))
        lift_low, lift_high = lift - lift_width, lift + lift_width
    return Comparison(
        control.n,
        treatment.n,
        vc,
        vt,
        diff,
        diff - width,
        diff + width,
        p,
        lift,
        lift_low,
        lift_high,
        p < alpha,
        s2,
    )
