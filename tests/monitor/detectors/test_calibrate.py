"""The alerting defaults stay quiet on stationary streams; switches are detected with usable evidence.

The full measurement (20 seeds) is ``python -m monitor.detectors.calibrate``; these use other seeds.
"""

from __future__ import annotations

import numpy as np
import pytest

from monitor.detectors.calibrate import ERROR_RATES, false_alarms, stationary, switch_delay
from monitor.detectors.concept import (
    DEFAULT_SPECS,
    EVIDENCE_SPECS,
    ConceptDriftMonitor,
    DetectorSpec,
)
from monitor.experiments.formatting import effect_parts
from monitor.outcomes.intervals import wilson_interval

SEEDS = (1001, 1002)


@pytest.mark.parametrize("spec", DEFAULT_SPECS, ids=lambda s: f"{s.stream}-{s.detector}")
def test_alerting_defaults_raise_no_alarm_on_100k_stationary_values(spec: DetectorSpec) -> None:
    params = ERROR_RATES if spec.stream == "error" else (None,)
    alarms = {
        (p, seed): false_alarms(spec, stationary(spec.stream, p, 100_000, seed))
        for p in params
        for seed in SEEDS
    }
    assert sum(alarms.values()) == 0, alarms


def test_evidence_detectors_are_not_in_the_alerting_defaults() -> None:
    assert {s.detector for s in EVIDENCE_SPECS} == {"ddm", "eddm", "kswin"}
    assert not {s.detector for s in DEFAULT_SPECS} & {"ddm", "eddm", "kswin"}
    # the reason: ddm does alarm on a stationary stream of 100 000 values (seed from the measurement)
    ddm = next(s for s in EVIDENCE_SPECS if s.detector == "ddm")
    assert any(false_alarms(ddm, stationary("error", 0.06, 100_000, seed)) for seed in range(6))


def test_adwin_detects_a_small_error_rate_switch_with_rates_and_intervals() -> None:
    adwin = DEFAULT_SPECS[0]
    delays = [switch_delay(adwin, 0.06, 0.09, seed) for seed in SEEDS]
    assert all(d is not None and 0 <= d < 10_000 and before == 0 for d, before in delays), delays
    rng = np.random.default_rng(SEEDS[0])
    values = np.concatenate([rng.random(20_000) < 0.06, rng.random(40_000) < 0.09]).astype(float)
    d = ConceptDriftMonitor("m", "v", [adwin]).update("error", values)[0]
    assert d.n_before + d.n_after == d.position + 1  # every value since start is on one side
    before = wilson_interval(round(d.mean_before * d.n_before), d.n_before)
    after = wilson_interval(round(d.mean_after * d.n_after), d.n_after)
    assert before.low <= 0.06 <= before.high
    assert after.low > before.high  # the after rate is higher and its interval says so
    text = d.evidence()
    assert f"over {d.n_before} events" in text and f"over {d.n_after} events" in text
    _, low, high = effect_parts(d.mean_before, before.low, before.high, signed=False)
    assert f"[{low}, {high}] over {d.n_before} events" in text


def test_restored_monitor_runs_the_configured_specs_and_keeps_their_state() -> None:
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.random(3000) < 0.1, rng.random(3000) < 0.35]).astype(float)
    expected = ConceptDriftMonitor("m", "v", DEFAULT_SPECS).update("error", values)
    old = ConceptDriftMonitor("m", "v", DEFAULT_SPECS + EVIDENCE_SPECS)
    first = old.update("error", values[:2500])
    restored = ConceptDriftMonitor.restore(old.snapshot()).use_specs(DEFAULT_SPECS)
    assert restored.specs == DEFAULT_SPECS
    got = [d for d in first if d.detector == "adwin"] + restored.update("error", values[2500:])
    assert got == expected and expected
