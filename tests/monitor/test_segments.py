"""Segment labels past a key's cap: which values keep their rows, and the folds that use them."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from monitor.contract.events import InferenceEvent
from monitor.experiments.fold import fold_experiment_inferences
from monitor.outcomes.fold import JoinedOutcome, fold_outcomes
from monitor.segments import OTHER_VALUE, kept_values, segment_labels

segments_st = st.lists(
    st.dictionaries(
        st.sampled_from(["lang", "user"]), st.sampled_from(list("abcdefgh")), max_size=2
    ),
    max_size=60,
)


@given(segments_st, st.integers(1, 10))
def test_each_key_keeps_at_most_cap_values_the_most_frequent_and_order_does_not_matter(
    segments, cap
):
    kept = kept_values(segments, ["lang", "user"], cap)
    shuffled = list(segments)
    random.Random(cap).shuffle(shuffled)
    assert kept_values(shuffled, ["lang", "user"], cap) == kept
    for key, values in kept.items():
        counts: dict[str, int] = {}
        for segment in segments:
            if key in segment:
                counts[segment[key]] = counts.get(segment[key], 0) + 1
        if values is None:
            assert len(counts) <= cap
            continue
        assert len(values) == cap < len(counts)
        dropped = set(counts) - values
        assert min(counts[v] for v in values) >= max(counts[v] for v in dropped)


def test_labels_of_one_event_whole_traffic_first_then_each_key_it_holds():
    kept = {"lang": frozenset({"en"}), "user": None}
    assert segment_labels({"lang": "de", "user": "u1"}, ["lang", "user"], kept) == [
        "",
        f"lang={OTHER_VALUE}",
        "user=u1",
    ]
    assert segment_labels({"user": "u1"}, ["lang"], kept) == [""]


def _outcome(i: int, user: str) -> JoinedOutcome:
    return JoinedOutcome(
        f"r{i}", "m", "v1", 10.0, 20.0, task_completed=i % 2 == 0, segment={"user": user}
    )


def test_outcome_rows_per_key_stay_within_the_cap_and_sum_to_the_whole_traffic():
    outcomes = [_outcome(i, "heavy") for i in range(10)]
    outcomes += [_outcome(100 + i, f"u{i}") for i in range(50)]
    rows = [s for s in fold_outcomes(outcomes, 60, ["user"], 3) if s.metric == "task_completion"]
    by_segment = {s.segment: (s.numerator, s.denominator) for s in rows}
    assert by_segment[""] == (30.0, 60.0)
    assert len(by_segment) == 1 + 3 + 1  # whole traffic, three values, (other)
    assert by_segment["user=heavy"] == (5.0, 10.0)
    assert by_segment[f"user={OTHER_VALUE}"][1] == 48.0  # 50 values, two kept: u0 and u1
    user_rows = [n for segment, (_, n) in by_segment.items() if segment.startswith("user=")]
    assert sum(user_rows) == 60.0
    uncapped = fold_outcomes(outcomes, 60, ["user"], 1000)
    assert len({s.segment for s in uncapped}) == 1 + 51


def test_experiment_rows_per_key_stay_within_the_cap():
    events = [
        InferenceEvent(
            f"r{i}", 10.0, "m", "v1", experiment="e", variant="a", segment={"user": f"u{i % 40}"}
        )
        for i in range(80)
    ]
    buckets = {p.bucket for p in fold_experiment_inferences(events, 60, ["user"], None, 4)}
    users = {b for b in buckets if "user=" in b}
    assert len(users) == 5 and any(OTHER_VALUE in b for b in users)
