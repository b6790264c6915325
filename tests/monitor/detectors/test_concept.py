from __future__ import annotations

import itertools

import numpy as np
import pytest
from river import drift

from monitor.detectors.concept import (
    DEFAULT_SPECS,
    DETECTOR_NAMES,
    ConceptDriftMonitor,
    Detection,
    DetectorSpec,
    change_point,
    detection_delays,
)
from monitor.errors import ConfigError, MonitorError


def error_stream(
    seed: int, before: float = 0.1, after: float = 0.4, switch: int = 2000, length: int = 6000
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [rng.random(switch) < before, rng.random(length - switch) < after]
    ).astype(float)


def outcome_streams(seed: int) -> dict[str, np.ndarray]:
    """Every default stream with a change at position 3000 of 8000."""
    rng = np.random.default_rng(seed)
    n, k = 8000, 3000
    latency = rng.lognormal(np.log(800), 0.5, n)
    latency[k:] += 400
    judge = np.clip(rng.normal(7, 2, n), 0, 10)
    judge[k:] -= 1.5
    return {
        "error": error_stream(seed, 0.1, 0.35, k, n),
        "satisfaction": error_stream(seed + 100, 0.8, 0.6, k, n),
        "judge_score": judge,
        "latency_ms": latency,
    }


@pytest.mark.parametrize(
    ("seed", "position"), [(0, 2047), (1, 2079), (2, 2079), (3, 2079), (4, 2047)]
)
def test_adwin_detects_the_switch_at_an_exact_index_and_nothing_before(
    seed: int, position: int
) -> None:
    monitor = ConceptDriftMonitor("m", "v1", [DetectorSpec("error", "adwin")])
    found = monitor.update("error", error_stream(seed))
    assert [d.position for d in found] == [position]
    d = found[0]
    assert (d.model, d.model_version, d.stream, d.detector) == ("m", "v1", "error", "adwin")
    assert d.mean_before == pytest.approx(0.1, abs=0.02)
    assert d.mean_after == pytest.approx(0.4, abs=0.15)


def test_positions_equal_raw_river_on_every_detector() -> None:
    stream = error_stream(5)
    for name in ("adwin", "ddm", "hddm_a", "hddm_w"):
        spec = DetectorSpec("error", name)
        raw = spec.build()
        expected = []
        for i, x in enumerate(stream):
            raw.update(bool(x) if name != "adwin" else x)
            if raw.drift_detected:
                expected.append(i)
        found = ConceptDriftMonitor("m", "v", [spec]).update("error", stream)
        assert [d.position for d in found] == expected, name


def test_sampled_detector_reports_stream_positions() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 1, 20_000), rng.normal(3, 1, 20_000)])
    spec = DetectorSpec("x", "kswin", {"alpha": 0.0001, "seed": 42}, sample_every=50)
    found = ConceptDriftMonitor("m", "v", [spec]).update("x", values)
    assert found and all(d.position % 50 == 0 for d in found)
    assert found[0].position >= 20_000
    raw = drift.KSWIN(alpha=0.0001, seed=42)
    expected = []
    for i in range(0, len(values), 50):
        raw.update(values[i])
        if raw.drift_detected:
            expected.append(i)
    assert [d.position for d in found] == expected


def test_nan_values_take_a_position_but_are_not_fed() -> None:
    stream = error_stream(0)
    with_gaps = np.insert(stream, 0, [np.nan] * 10)
    monitor = ConceptDriftMonitor("m", "v", [DetectorSpec("error", "adwin")])
    assert [d.position for d in monitor.update("error", with_gaps)] == [2047 + 10]
    assert monitor.position("error") == len(with_gaps)


def test_default_specs_raise_no_alarm_before_the_change() -> None:
    streams = outcome_streams(11)
    monitor = ConceptDriftMonitor("m", "v")
    found = [d for name, values in streams.items() for d in monitor.update(name, values)]
    assert found, "the changes at 3000 should be detected"
    assert [d for d in found if d.position < 3000] == []
    assert {(d.stream, d.detector) for d in found} >= {
        ("error", "adwin"),
        ("satisfaction", "adwin"),
        ("judge_score", "page_hinkley"),
        ("latency_ms", "page_hinkley"),
    }


@pytest.mark.parametrize(
    "splits", [[1], [1999, 2047, 2048], [500, 3001, 3002, 7000], list(range(250, 8000, 997))]
)
def test_snapshot_restore_continues_exactly_like_an_uninterrupted_run(splits: list[int]) -> None:
    streams = outcome_streams(3)
    whole = ConceptDriftMonitor("m", "v")
    expected = [d for name, values in streams.items() for d in whole.update(name, values)]
    assert len(expected) >= 4

    monitor = ConceptDriftMonitor("m", "v")
    got: list[Detection] = []
    bounds = [0, *splits, 8000]
    for name, values in streams.items():
        for lo, hi in itertools.pairwise(bounds):
            monitor = ConceptDriftMonitor.restore(monitor.snapshot())
            got.extend(monitor.update(name, values[lo:hi]))
    assert got == expected


def test_batching_does_not_change_detections() -> None:
    stream = error_stream(2)
    one = ConceptDriftMonitor("m", "v").update("error", stream)
    monitor = ConceptDriftMonitor("m", "v")
    many = [d for i in range(0, len(stream), 7) for d in monitor.update("error", stream[i : i + 7])]
    assert many == one


def test_bad_detector_name_lists_the_valid_names() -> None:
    with pytest.raises(ConfigError) as info:
        DetectorSpec("error", "cusum")
    assert "'cusum'" in str(info.value)
    assert all(name in str(info.value) for name in DETECTOR_NAMES)


def test_bad_parameters_and_sampling_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="kswin params"):
        DetectorSpec("x", "kswin", {"alpha": 2.0})
    with pytest.raises(ConfigError, match="window"):
        DetectorSpec("x", "adwin", {"window": 3})
    with pytest.raises(ConfigError, match="sample_every: 0"):
        DetectorSpec("x", "adwin", sample_every=0)


def test_every_name_builds_and_defaults_are_valid() -> None:
    for name in DETECTOR_NAMES:
        DetectorSpec("x", name).build()
    assert {s.detector for s in DEFAULT_SPECS} <= set(DETECTOR_NAMES)


def test_restore_rejects_foreign_bytes() -> None:
    with pytest.raises(MonitorError, match="snapshot"):
        ConceptDriftMonitor.restore(b"not a pickle")


def test_change_point_finds_a_step() -> None:
    values = np.r_[np.zeros(300), np.ones(40)]
    assert change_point(values) == 300
    assert change_point(np.array([1.0])) == 0


def test_detection_delays_is_measured_after_the_switch() -> None:
    delay, false_alarms = detection_delays("adwin", 0.1, 0.4, seed=0)
    assert (delay, false_alarms) == (47, 0)
    assert detection_delays("adwin", 0.1, 0.1, seed=0) == (None, 0)
