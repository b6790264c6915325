"""Length-controlled win rate (AlpacaEval 2's idea, arXiv 2404.04475).

The shadow's preference y in [0, 1] (1 win, 0.5 tie, 0 loss) is regressed, by weighted logistic
regression, on an intercept and ``tanh(d / sd)``, where ``d`` is the shadow's length minus
production's and ``sd`` the weighted standard deviation of ``d``. The length-controlled win rate is
the fitted win rate with the length term at zero, ``sigmoid(intercept)``: what the shadow would win
if its answers were as long as production's. Fitted by iteratively reweighted least squares (IRLS,
Newton's method on the log-likelihood) with a small ridge on the slope so that separable data stays
finite.

>>> import numpy as np
>>> d = np.array([-50.0, -20.0, 20.0, 50.0] * 25)
>>> y = (d > 0).astype(float)  # the longer answer always wins
>>> result = length_controlled_win_rate(y, d)
>>> round(result.raw, 3), round(result.lc, 3)
(0.5, 0.5)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["LengthControlled", "fit_logistic", "length_controlled_win_rate"]

Array = npt.NDArray[np.float64]
RIDGE = 1e-3  # on the slope only: keeps a perfectly length-driven judge's coefficient finite


@dataclass(frozen=True, slots=True)
class LengthControlled:
    """Raw and length-controlled win rates and the fitted coefficients (intercept, length slope)."""

    raw: float
    lc: float
    intercept: float
    length_slope: float
    n: int


def _sigmoid(z: Array) -> Array:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)


def fit_logistic(
    x: Array, y: Array, weights: Array, ridge: Array | None = None, iterations: int = 100
) -> Array:
    """Coefficients maximising the weighted Bernoulli log-likelihood of ``y`` (in [0, 1]) minus
    ``0.5 * sum(ridge * beta**2)``, by IRLS.

    Two groups with win shares 1/2 and 3/4: intercept logit(1/2) = 0, slope logit(3/4) = log 3.

    >>> x = np.column_stack([np.ones(6), [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]])
    >>> beta = fit_logistic(x, np.array([0.0, 1.0, 1.0, 1.0, 1.0, 0.0]), np.ones(6))
    >>> bool(abs(beta[0]) < 1e-9), bool(abs(beta[1] - np.log(3)) < 1e-9)
    (True, True)
    """
    penalty = np.zeros(x.shape[1]) if ridge is None else ridge
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = _sigmoid(x @ beta)
        gradient = x.T @ (weights * (y - p)) - penalty * beta
        hessian = (
            (x.T * (weights * p * (1.0 - p))) @ x + np.diag(penalty) + 1e-12 * np.eye(len(beta))
        )
        step = np.linalg.solve(hessian, gradient)
        beta = beta + step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    return beta


def length_controlled_win_rate(
    preference: Array, length_delta: Array, weights: Array | None = None
) -> LengthControlled:
    """Raw (weighted mean preference) and length-controlled win rates of the shadow."""
    y = np.asarray(preference, dtype=np.float64)
    d = np.asarray(length_delta, dtype=np.float64)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(y) == 0 or float(w.sum()) <= 0:
        nan = float("nan")
        return LengthControlled(nan, nan, nan, nan, 0)
    raw = float(np.average(y, weights=w))
    sd = float(np.sqrt(np.average((d - np.average(d, weights=w)) ** 2, weights=w)))
    length = np.tanh(d / sd) if sd > 0 else np.zeros_like(d)
    x = np.column_stack([np.ones_like(y), length])
    beta = fit_logistic(x, y, w / w.mean(), ridge=np.array([0.0, RIDGE]))
    lc = float(_sigmoid(np.array([beta[0]]))[0])
    return LengthControlled(raw, lc, float(beta[0]), float(beta[1]), len(y))
