from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import ConfigError
from monitor.outcomes.fold import OUTCOME_METRICS, JoinedOutcome, fold_outcomes

maybe_bool = st.none() | st.booleans()
outcomes = st.builds(
    JoinedOutcome,
    request_id=st.text(max_size=3),
    model=st.sampled_from(["a", "b"]),
    model_version=st.sampled_from(["v1", "v2"]),
    inference_time=st.floats(0, 10_000, allow_nan=False),
    feedback_time=st.floats(0, 10_000, allow_nan=False),
    prediction=st.none() | st.sampled_from(["yes", "no", 1, True, "Yes "]),
    label=st.none() | st.sampled_from(["yes", "no", 1, "true", "1.0"]),
    rating=st.none() | st.integers(1, 5),
    thumbs=st.none() | st.sampled_from(["up", "down"]),
    task_completed=maybe_bool,
    human_takeover=maybe_bool,
    bad_case=maybe_bool,
    turns=st.none() | st.integers(1, 30),
    judge_score=st.none() | st.floats(0, 10, allow_nan=False),
    latency_ms=st.none() | st.floats(0, 1e5, allow_nan=False),
    segment=st.dictionaries(st.sampled_from(["lang", "tier"]), st.sampled_from(["x", "y"])),
)


def _per_event(o: JoinedOutcome) -> dict[str, tuple[float, float]]:
    """Each metric's (numerator, denominator) for one outcome, spelled out one by one."""
    terms: dict[str, tuple[float, float]] = {}
    if o.rating is not None:  # the rating decides satisfaction; thumbs only without a rating
        terms["rating"] = (o.rating, 1)
        terms["satisfaction"] = (1.0 if o.rating >= 4 else 0.0, 1)
    elif o.thumbs is not None:
        terms["satisfaction"] = (1.0 if o.thumbs == "up" else 0.0, 1)
    for metric, value in (
        ("task_completion", o.task_completed),
        ("human_takeover", o.human_takeover),
        ("bad_case", o.bad_case),
    ):
        if value is not None:
            terms[metric] = (1.0 if value else 0.0, 1)
    if o.turns is not None:
        terms["turns"] = (o.turns, 1)
    if o.judge_score is not None:
        terms["judge_score"] = (o.judge_score, 1)
    if o.label is not None and o.prediction is not None:
        spelled = {
            True: "1",
            "yes": "yes",
            "Yes ": "yes",
            "no": "no",
            "true": "1",
            "1.0": "1",
        }  # 1 == True
        terms["accuracy"] = (1.0 if spelled[o.prediction] == spelled[o.label] else 0.0, 1)
    return terms


def _straightforward(items, window, keys):
    sums: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for o in items:
        start = math.floor(o.inference_time / window) * window
        segments = [""] + [f"{k}={o.segment[k]}" for k in keys if k in o.segment]
        for segment in segments:
            for metric, (num, den) in _per_event(o).items():
                cell = sums[(start, o.model, o.model_version, segment, metric)]
                cell[0] += num
                cell[1] += den
    return sums


@settings(max_examples=200, deadline=None)
@given(
    st.lists(outcomes, max_size=40),
    st.sampled_from([1, 60, 300, 3600]),
    st.sampled_from([(), ("lang",), ("lang", "tier")]),
)
def test_fold_equals_a_per_event_computation(items, window, keys) -> None:
    folded = fold_outcomes(items, window, keys)
    expected = _straightforward(items, window, keys)
    got = {
        (s.window_start, s.model, s.model_version, s.segment, s.metric): (
            s.numerator,
            s.denominator,
        )
        for s in folded
    }
    assert len(got) == len(folded)  # no duplicate rows
    assert got.keys() == expected.keys()
    for key, (num, den) in got.items():
        assert num == pytest.approx(expected[key][0])
        assert den == expected[key][1]
    assert {s.metric for s in folded} <= set(OUTCOME_METRICS)


def test_rows_use_the_window_of_the_inference_not_the_feedback() -> None:
    a = JoinedOutcome("a", "m", "v", inference_time=59.9, feedback_time=61.0, rating=5)
    b = JoinedOutcome("b", "m", "v", inference_time=60.0, feedback_time=60.5, rating=1)
    rows = fold_outcomes([a, b], 60)
    assert [(s.window_start, s.metric, s.numerator) for s in rows] == [
        (0.0, "satisfaction", 1.0),
        (0.0, "rating", 5.0),
        (60.0, "satisfaction", 0.0),
        (60.0, "rating", 1.0),
    ]


def test_folds_of_parts_add_up_to_the_fold_of_the_whole() -> None:
    rng = np.random.default_rng(3)
    items = [
        JoinedOutcome(
            str(i),
            "m",
            "v",
            float(rng.uniform(0, 600)),
            0.0,
            rating=int(rng.integers(1, 6)),
            bad_case=bool(rng.random() < 0.2),
        )
        for i in range(500)
    ]
    merged: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for part in (items[:123], items[123:]):
        for s in fold_outcomes(part, 60):
            merged[(s.window_start, s.metric)][0] += s.numerator
            merged[(s.window_start, s.metric)][1] += s.denominator
    whole = {
        (s.window_start, s.metric): [s.numerator, s.denominator] for s in fold_outcomes(items, 60)
    }
    assert merged.keys() == whole.keys()
    for key, (num, den) in whole.items():
        assert merged[key] == [pytest.approx(num), den]


def test_bad_window_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="window_seconds: 0"):
        fold_outcomes([], 0)
