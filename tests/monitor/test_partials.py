from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.folding.partials import Partial, fold_counts, fold_sums, group_keys

Key = tuple[float, str, str]


def as_dict(partials: list[Partial]) -> dict[Key, tuple[float, float, float]]:
    out = {}
    for p in partials:
        key = (p.window_start, p.model, p.model_version)
        assert key not in out, "one partial per group"
        out[key] = (p.count, p.total, p.max_event_time)
    return out


def straightforward(
    rows: list[tuple[float, str, str, float, float]],
) -> dict[Key, tuple[float, float, float]]:
    count: dict[Key, float] = defaultdict(float)
    total: dict[Key, float] = defaultdict(float)
    latest: dict[Key, float] = defaultdict(lambda: -math.inf)
    for start, model, version, time, value in rows:
        key = (start, model, version)
        if not math.isnan(value):  # the newest event time among the values counted
            latest[key] = max(latest[key], time)
            count[key] += 1
            total[key] += value
    return {k: (count[k], total[k], latest[k]) for k in count}


row = st.tuples(
    st.sampled_from([0.0, 60.0, 120.0, 1767225600.0]),
    st.sampled_from(["m", "other", "with space", "ü", "a\x1e"]),
    st.sampled_from(["v1", "v2", ""]),
    st.floats(0, 1e6),
    st.one_of(st.just(math.nan), st.integers(-1000, 1000).map(float)),  # integers: sums are exact
)
rows_strategy = st.lists(row, max_size=50)


def columns(rows: list[tuple[float, str, str, float, float]]) -> tuple:
    starts = np.array([r[0] for r in rows], dtype=np.float64)
    return (
        starts,
        [r[1] for r in rows],
        [r[2] for r in rows],
        np.array([r[3] for r in rows], dtype=np.float64),
        np.array([r[4] for r in rows], dtype=np.float64),
    )


@settings(max_examples=150)
@given(rows_strategy)
def test_fold_sums_equals_a_dict_computation(rows: list) -> None:
    starts, models, versions, times, values = columns(rows)
    partials = fold_sums(
        starts, models, versions, times, values, "latency_ms", window_seconds=60, bucket="b"
    )
    assert as_dict(partials) == straightforward(rows)
    for p in partials:
        assert (p.name, p.bucket, p.window_seconds) == ("latency_ms", "b", 60)
        assert p.count > 0


@settings(max_examples=150)
@given(rows_strategy)
def test_fold_counts_equals_a_dict_computation(rows: list) -> None:
    starts, models, versions, times, _ = columns(rows)
    partials = fold_counts(starts, models, versions, times, "inference_events", window_seconds=300)
    counted = straightforward([(s, m, v, t, 1.0) for s, m, v, t, _ in rows])
    assert as_dict(partials) == counted
    assert all(
        p.count == p.total and p.name == "inference_events" and p.bucket == "" for p in partials
    )
    assert sum(p.count for p in partials) == len(rows)


def merge(partials: list[Partial]) -> dict[Key, tuple[float, float, float]]:
    merged: dict[Key, tuple[float, float, float]] = {}
    for p in partials:
        key = (p.window_start, p.model, p.model_version)
        c, t, e = merged.get(key, (0.0, 0.0, -math.inf))
        merged[key] = (c + p.count, t + p.total, max(e, p.max_event_time))
    return merged


@settings(max_examples=150)
@given(rows_strategy, st.lists(st.integers(0, 50), max_size=6))
def test_partials_of_any_split_sum_to_the_fold_of_all(rows: list, cuts: list[int]) -> None:
    bounds = sorted({0, len(rows), *(c for c in cuts if c <= len(rows))})
    pieces: list[Partial] = []
    for lo, hi in itertools.pairwise(bounds):
        pieces += fold_sums(*columns(rows[lo:hi]), "x", window_seconds=60)
    assert merge(pieces) == as_dict(fold_sums(*columns(rows), "x", window_seconds=60))


def test_nan_values_are_absent_and_all_nan_groups_vanish() -> None:
    starts = np.array([0.0, 0.0, 60.0])
    partials = fold_sums(
        starts,
        ["m"] * 3,
        ["v"] * 3,
        np.array([1.0, 2.0, 61.0]),
        np.array([5.0, np.nan, np.nan]),
        "latency_ms",
        window_seconds=60,
    )
    assert [(p.window_start, p.count, p.total, p.max_event_time) for p in partials] == [
        (0.0, 1.0, 5.0, 1.0)
    ]


def test_groups_are_separated_by_model_and_version() -> None:
    partials = fold_counts(
        np.zeros(4),
        ["a", "a", "b", "a"],
        ["1", "2", "1", "1"],
        np.arange(4.0),
        "n",
        window_seconds=60,
    )
    assert as_dict(partials) == {
        (0.0, "a", "1"): (2.0, 2.0, 3.0),
        (0.0, "a", "2"): (1.0, 1.0, 1.0),
        (0.0, "b", "1"): (1.0, 1.0, 2.0),
    }


def test_empty_input() -> None:
    empty = np.zeros(0)
    assert fold_counts(empty, [], [], empty, "n", window_seconds=60) == []
    assert fold_sums(empty, [], [], empty, empty, "n", window_seconds=60) == []


def test_group_keys_round_trip() -> None:
    starts = np.array([60.0, 0.0, 60.0, 1767225600.5])
    ids, groups = group_keys(starts, ["m", "m", "m", "n"], ["v", "v", "v", "w"])
    assert [groups[i] for i in ids.tolist()] == [
        (60.0, "m", "v"),
        (0.0, "m", "v"),
        (60.0, "m", "v"),
        (1767225600.5, "n", "w"),
    ]
    assert len(groups) == 3
    assert ids[0] == ids[2] != ids[1]


def test_large_window_starts_keep_full_precision() -> None:
    start = 1767225600.0 + 86400 * 365
    [p] = fold_counts(
        np.array([start]), ["m"], ["v"], np.array([start + 1]), "n", window_seconds=86400
    )
    assert p.window_start == start


def test_partial_is_frozen() -> None:
    [p] = fold_counts(np.zeros(1), ["m"], ["v"], np.zeros(1), "n", window_seconds=60)
    with pytest.raises(AttributeError):
        p.count = 2  # type: ignore[misc]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0.0, 60.0]),
            st.sampled_from(["v1", "v2"]),
            st.one_of(st.just(0.0), st.just(float("nan")), st.floats(1e-12, 1e299)),
            st.floats(0.0, 120.0),
        ),
        max_size=40,
    )
)
def test_sketch_partials_count_each_group_and_bucket(rows) -> None:
    """Every (window, version, DDSketch bucket) gets one partial with its count and latest time."""
    from monitor.folding.partials import fold_sketches
    from monitor.outcomes.sketch import bucket_key

    starts = np.array([r[0] for r in rows])
    values = np.array([r[2] for r in rows])
    times = np.array([r[3] for r in rows])
    versions = [r[1] for r in rows]
    expected: dict[tuple[float, str, str], list[float]] = {}
    for (start, version, value, time), key in zip(rows, bucket_key(values).tolist()):
        if not math.isnan(value):  # NaN is absent
            expected.setdefault((start, version, str(key)), []).append(time)
    got = fold_sketches(starts, ["m"] * len(rows), versions, times, values, "s", window_seconds=60)
    assert {
        (p.window_start, p.model_version, p.bucket): (p.count, p.max_event_time) for p in got
    } == {k: (float(len(t)), max(t)) for k, t in expected.items()}
    assert len(got) == len(expected)
