"""Feedback refused by the join store, taken back out of a processed batch
(:func:`monitor.folding.refused.drop_feedback`): what is left is the batch that never held the
refused events (its counts, late events and watermark), and the batch totals follow."""

from __future__ import annotations

from collections import Counter

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.folding.pipeline import BatchConfig, BatchOutput, Position, RawMessage, process_batch
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


def _batch(
    times: list[float], per_message: int, versions: list[str] | None = None, watermark: float = 0.0
) -> BatchOutput:
    versions = versions or [f"v{i % 2}" for i in range(len(times))]
    events = [
        {"request_id": f"r{i % 3}", "timestamp": t, "model": "m", "model_version": v}
        for i, (t, v) in enumerate(zip(times, versions))
    ]
    messages = [
        RawMessage(*FB, n, orjson.dumps(events[i : i + per_message]), "feedback")
        for n, i in enumerate(range(0, len(events), per_message))
    ]
    return process_batch(messages, {FB: Position(-1, watermark)}, CFG)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from([9_000.0, 9_050.0, 9_100.0, 9_130.0, 9_300.0]), min_size=1),
    st.integers(1, 4),
    st.floats(0.0, 9_200.0),
    st.data(),
)
def test_what_is_left_is_the_batch_that_never_held_the_refused_events(
    times, per_message, watermark, data
) -> None:
    versions = [f"v{i % 2}" for i in range(len(times))]
    taken = data.draw(st.sets(st.integers(0, len(times) - 1)))
    kept = [n for n in range(len(times)) if n not in taken]
    left = _batch(times, per_message, versions, watermark)
    drop_feedback(left, FB, sorted(taken), CFG.window_seconds)
    never = _batch([times[n] for n in kept], per_message, [versions[n] for n in kept], watermark)
    source = left.sources[FB]
    assert _counts(left) == (_counts(never) if kept else Counter())
    assert source.late == (never.sources[FB].late if kept else [])
    assert source.watermark == (never.sources[FB].watermark if kept else watermark)
    assert (left.events["feedback"], left.late["feedback"]) == (
        never.events["feedback"],
        never.late["feedback"],
    )
    assert sorted(e.timestamp for e in left.feedback) == sorted(e.timestamp for e in never.feedback)
    whole = _batch(times, per_message, versions, watermark).sources[FB]
    assert source.event_ids == [i for n, i in enumerate(whole.event_ids) if n not in taken]
    assert source.offsets == [o for n, o in enumerate(whole.offsets) if n not in taken]


def test_a_refused_event_ahead_of_the_rest_makes_none_of_them_late() -> None:
    """The refused event alone moved the watermark: without it nothing is late."""
    out = _batch([9_300.0, 9_000.0, 9_050.0], 3)
    assert out.late["feedback"] == 2 and out.sources[FB].watermark == 9_300.0
    drop_feedback(out, FB, [0], CFG.window_seconds)
    assert (out.events["feedback"], out.late["feedback"]) == (2, 0)
    assert out.sources[FB].watermark == 9_050.0
    assert sorted(_counts(out).items()) == [
        ((9_000.0, "m", "v0", "feedback_events"), 1.0),
        ((9_000.0, "m", "v1", "feedback_events"), 1.0),
    ]
