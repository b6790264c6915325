"""Monte-Carlo checks of the always-valid statistics, read after every batch as a dashboard would.

Each test runs many seeded experiments at once with numpy (cumulative moments per batch), through
the same formulas the report uses (:mod:`monitor.experiments.stats`, :mod:`monitor.experiments.srm`).
"""

from __future__ import annotations

import math

import numpy as np

from monitor.experiments.config import ExperimentSpec
from monitor.experiments.report import experiment_report
from monitor.experiments.srm import SRM_THRESHOLD, check_srm
from monitor.experiments.stats import (
    Moments,
    always_valid_p,
    half_width,
    mixture_rho,
    planned_sample_size,
)

ALPHA = 0.05
RUNS = 2000
P0 = 0.30  # control conversion of the proportion experiments
MDE = 0.03


def _mc_bound(p: float, runs: int) -> float:
    return p + 3 * math.sqrt(p * (1 - p) / runs)


def _cumulative(
    rng: np.random.Generator, p_control: float, p_treatment: float, batches: int, batch: int
):
    """Cumulative n, Σy per arm after each batch, shape (runs, batches); y in {0, 1} so Σy² = Σy."""
    n = np.arange(1, batches + 1) * batch
    sc = np.cumsum(rng.binomial(batch, p_control, size=(RUNS, batches)), axis=1)
    st = np.cumsum(rng.binomial(batch, p_treatment, size=(RUNS, batches)), axis=1)
    return n, sc, st


def _sequence(n: np.ndarray, sc: np.ndarray, st: np.ndarray, tuning: float):
    """diff, half-width and p-value after every batch, exactly as stats.compare computes them."""
    rho = mixture_rho(ALPHA, tuning)
    var_c = (sc - sc**2 / n) / (n - 1) / n
    var_t = (st - st**2 / n) / (n - 1) / n
    diff = st / n - sc / n
    s2 = 2 * n * (var_c + var_t)
    return diff, half_width(s2, 2 * n, rho, ALPHA), always_valid_p(diff, s2, 2 * n, rho)


def _planned() -> float:
    s2 = 2 * (P0 * (1 - P0) + (P0 + MDE) * (1 - P0 - MDE))  # N·Var(Δ̂) with N/2 per arm
    return planned_sample_size(MDE, s2, ALPHA, 0.8)


def test_a_a_experiments_are_rarely_ever_significant_when_read_after_every_batch():
    planned = _planned()
    batches, batch = 60, int(planned / 2 / 30)  # read 60 times, up to twice the planned sample
    n, sc, st = _cumulative(np.random.default_rng(11), P0, P0, batches, batch)
    _, _, p = _sequence(n, sc, st, planned)
    ever = (p < ALPHA).any(axis=1).mean()
    assert ever <= _mc_bound(ALPHA, RUNS), ever
    # The fixed-horizon z-test read the same way is far above α: the problem this solves.
    diff, _, _ = _sequence(n, sc, st, planned)
    se = np.sqrt((sc / n * (1 - sc / n) + st / n * (1 - st / n)) / n)
    assert (np.abs(diff / se) > 1.959964).any(axis=1).mean() > 2 * ALPHA


def test_an_effect_of_the_planned_size_is_detected_in_80_percent_of_runs_by_the_planned_sample():
    planned = _planned()
    batches = 40
    batch = math.ceil(planned / 2 / batches)
    n, sc, st = _cumulative(np.random.default_rng(12), P0, P0 + MDE, batches, batch)
    _, _, p = _sequence(n, sc, st, planned)
    detected = (p < ALPHA).any(axis=1).mean()
    assert detected >= 0.8 - 3 * math.sqrt(0.8 * 0.2 / RUNS), detected


def test_intervals_cover_the_true_difference_at_every_look():
    planned = _planned()
    n, sc, st = _cumulative(np.random.default_rng(13), P0, P0 + MDE, 50, int(planned / 50))
    diff, width, _ = _sequence(n, sc, st, planned)
    missed_ever = (np.abs(diff - MDE) > width).any(axis=1).mean()
    assert missed_ever <= _mc_bound(ALPHA, RUNS), missed_ever
    # and not absurdly wide: at the planned sample the half-width is below the MDE
    assert np.median(width[:, -1]) < MDE


def test_a_a_through_the_report_with_its_data_driven_tuning():
    """The report tunes N* from the observed variance; the A/A error rate still holds."""
    rng = np.random.default_rng(14)
    spec = ExperimentSpec("aa", "m", "a", "b", guardrails=(), minimum_detectable_effect=MDE)
    runs, looks, batch = 400, 25, 400
    ever = 0
    for _ in range(runs):
        moments = {"a": Moments(), "b": Moments()}
        for _ in range(looks):
            for arm in ("a", "b"):
                y = rng.binomial(1, P0, batch).astype(float)
                moments[arm] = moments[arm] + Moments.of(y)
            arms = {(v, "task_completion", ""): m for v, m in moments.items()}
            rows, summary = experiment_report(spec, arms, {v: m.n for v, m in moments.items()})
            if rows[0].significant:
                ever += 1
                break
        assert summary.decision in ("continue", "ship", "stop")
    assert ever / runs <= _mc_bound(ALPHA, runs), ever / runs


def test_srm_fires_on_55_45_within_20000_events_and_stays_quiet_on_50_50():
    rng = np.random.default_rng(15)
    runs, looks, batch = 500, 40, 500  # 20,000 events read every 500

    def fired(share: float) -> np.ndarray:
        treated = np.cumsum(rng.binomial(batch, share, size=(runs, looks)), axis=1)
        total = np.arange(1, looks + 1) * batch
        return np.array(
            [
                any(
                    check_srm([total[k] - treated[r, k], treated[r, k]], [0.5, 0.5]).mismatch
                    for k in range(looks)
                )
                for r in range(runs)
            ]
        )

    assert fired(0.45).all()
    quiet = fired(0.5).mean()
    assert quiet <= SRM_THRESHOLD + 3 * math.sqrt(SRM_THRESHOLD / runs), quiet
