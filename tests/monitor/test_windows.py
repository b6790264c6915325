from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.folding.windows import classify_lateness, window_starts

WINDOW_LENGTHS = [1, 5, 10, 60, 300, 900, 3600, 86400]


@pytest.mark.parametrize("window", WINDOW_LENGTHS)
def test_starts_are_epoch_multiples_holding_the_event(window: int) -> None:
    rng = np.random.default_rng(window)
    times = np.round(rng.uniform(1.7e9, 1.8e9, 2000), 3)
    starts = window_starts(times, window)
    assert np.all(np.mod(starts, window) == 0)
    assert np.all(starts <= times) and np.all(times < starts + window)


@pytest.mark.parametrize("window", WINDOW_LENGTHS)
def test_window_boundaries_are_exact(window: int) -> None:
    edge = 1767225600.0  # a multiple of every length above (midnight UTC)
    starts = window_starts(
        np.array([edge - 0.001, edge, edge + window - 0.001, edge + window]), window
    )
    assert starts.tolist() == [edge - window, edge, edge, edge + window]


def test_one_day_windows_start_at_utc_midnight() -> None:
    # 2026-01-01T13:45:10Z and 2026-01-01T23:59:59.999Z are in the day starting 2026-01-01T00:00Z.
    starts = window_starts(np.array([1767275110.0, 1767311999.999, 1767312000.0]), 86400)
    assert starts.tolist() == [1767225600.0, 1767225600.0, 1767312000.0]


def test_accepts_lists_and_returns_float64() -> None:
    out = window_starts([59, 61], 60)  # type: ignore[arg-type]
    assert out.dtype == np.float64 and out.tolist() == [0.0, 60.0]


@given(st.integers(0, 4_000_000_000), st.sampled_from(WINDOW_LENGTHS))
def test_integer_seconds_align(t: int, window: int) -> None:
    [start] = window_starts(np.array([t], dtype=np.float64), window).tolist()
    assert start == t - t % window


def per_event_late(
    times: list[float], watermark: float, window: float, lateness: float
) -> tuple[list[bool], float]:
    late = []
    for t in times:
        window_end = math.floor(t / window) * window + window
        late.append(window_end + lateness <= watermark)
        watermark = max(watermark, t)
    return late, watermark


timestamps = st.lists(st.integers(0, 5000).map(float), max_size=60)
windows = st.sampled_from([1, 10, 60, 300])
lateness = st.sampled_from([0.0, 5.0, 60.0, 150.5])


@settings(max_examples=200)
@given(timestamps, st.floats(0, 5000), windows, lateness)
def test_classify_lateness_equals_a_per_event_loop(
    times: list[float], watermark: float, window: int, allowed: float
) -> None:
    result = classify_lateness(np.array(times), watermark, window, allowed)
    expected_late, expected_watermark = per_event_late(times, watermark, window, allowed)
    assert result.late.dtype == bool
    assert result.late.tolist() == expected_late
    assert result.watermark == expected_watermark


@settings(max_examples=200)
@given(timestamps, st.lists(st.integers(0, 60), max_size=8), windows, lateness)
def test_batching_does_not_change_the_late_mask(
    times: list[float], cuts: list[int], window: int, allowed: float
) -> None:
    whole = classify_lateness(np.array(times), 0.0, window, allowed)
    bounds = sorted({0, len(times), *(c for c in cuts if c <= len(times))})
    watermark, mask = 0.0, []
    for lo, hi in itertools.pairwise(bounds):
        part = classify_lateness(np.array(times[lo:hi]), watermark, window, allowed)
        mask += part.late.tolist()
        watermark = part.watermark
    assert mask == whole.late.tolist()
    assert watermark == whole.watermark


def test_docstring_case_by_hand() -> None:
    # 130 s sits in [120, 180); closes at 180 + 120 = 300 <= watermark 500 -> late.
    # 480 s sits in [480, 540); closes at 660 > 500 -> on time.
    r = classify_lateness(np.array([100.0, 500.0, 130.0, 480.0]), 0.0, 60, 120)
    assert r.late.tolist() == [False, False, True, False]
    assert r.watermark == 500.0


def test_lateness_boundary_is_inclusive() -> None:
    # window [0, 60) plus 10 s lateness closes at 70: late exactly at watermark 70, not at 69.999.
    assert classify_lateness(np.array([5.0]), 70.0, 60, 10).late.tolist() == [True]
    assert classify_lateness(np.array([5.0]), 69.999, 60, 10).late.tolist() == [False]


def test_event_never_late_against_itself() -> None:
    r = classify_lateness(np.array([1000.0, 1000.0, 999.0]), 0.0, 1, 0)
    assert r.late.tolist() == [False, False, True]


def test_incoming_watermark_is_respected_and_never_lowered() -> None:
    r = classify_lateness(np.array([10.0, 20.0]), 1000.0, 60, 0)
    assert r.late.tolist() == [True, True]
    assert r.watermark == 1000.0


def test_empty_batch_keeps_the_watermark() -> None:
    r = classify_lateness(np.array([]), 123.5, 60, 0)
    assert r.late.shape == (0,) and r.late.dtype == bool
    assert r.watermark == 123.5
