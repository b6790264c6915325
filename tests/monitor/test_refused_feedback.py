"""Feedback refused by the join store, taken back out of a processed batch
(:func:`monitor.folding.refused.drop_feedback`): what is left and what was taken add up to the
batch as processed, late events included, and the batch totals follow."""

from __future__ import annotations

import copy
from collections import Counter

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.folding.pipeline import BatchConfig, BatchOutput, RawMessage, process_batch
from monitor.folding.refused import drop_feedback

NOW = 10_000.0
CFG = BatchConfig(
    window_seconds=60, allowed_lateness=30, max_future_skew=300, now=NOW, min_event_time=0
)
FB = ("monitor.feedback", 0)


def _counts(out: BatchOutput) -> Counter:
    counts: Counter = Counter()
    for p in out.sources[FB].partials:
        counts[(p.window_start, p.model, p.model_version, p.name)] += p.count
    return counts


def _batch(times: list[float], per_message: int) -> BatchOutput:
    events = [
        {"request_id": f"r{i % 3}", "timestamp": t, "model": "m", "model_version": f"v{i % 2}"}
        for i, t in enumerate(times)
    ]
    messages = [
        RawMessage(*FB, n, orjson.dumps(events[i : i + per_message]), "feedback")
        for n, i in enumerate(range(0, len(events), per_message))
    ]
    return process_batch(messages, {}, CFG)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from([9_000.0, 9_050.0, 9_100.0, 9_130.0, 9_300.0]), min_size=1),
    st.integers(1, 4),
    st.data(),
)
def test_what_is_left_and_what_is_taken_add_up_to_the_batch(times, per_message, data) -> None:
    whole = _batch(times, per_message)
    taken = data.draw(st.sets(st.integers(0, len(times) - 1)))
    left, rest = copy.deepcopy(whole), copy.deepcopy(whole)
    drop_feedback(left, FB, sorted(taken), CFG.window_seconds)
    drop_feedback(rest, FB, sorted(set(range(len(times))) - taken), CFG.window_seconds)
    assert _counts(left) + _counts(rest) == _counts(whole)
    assert len(left.sources[FB].valid) == len(times) - len(taken)
    source = whole.sources[FB]
    assert left.sources[FB].event_ids == [
        i for n, i in enumerate(source.event_ids) if n not in taken
    ]
    assert left.sources[FB].offsets == [o for n, o in enumerate(source.offsets) if n not in taken]
    late_taken = sum(source.late[n] for n in taken)
    assert left.late["feedback"] == whole.late["feedback"] - late_taken
    assert left.events["feedback"] == whole.events["feedback"] - (len(taken) - late_taken)
    assert len(left.feedback) == left.events["feedback"]
