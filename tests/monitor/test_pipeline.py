from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.contract.events import InferenceEvent
from monitor.folding.partials import Partial, fold_counts
from monitor.folding.pipeline import (
    BatchConfig,
    BatchOutput,
    FoldColumns,
    Position,
    RawMessage,
    process_batch,
)

NOW = 10_000.0
CFG = BatchConfig(
    window_seconds=60, allowed_lateness=30, max_future_skew=300, now=NOW, min_event_time=0
)
INF = ("monitor.inference", 0)
FB = ("monitor.feedback", 0)


def inf(rid: str, t: float, model: str = "m", version: str = "v1", **extra: Any) -> dict[str, Any]:
    return {"request_id": rid, "timestamp": t, "model": model, "model_version": version, **extra}


def msg(source: tuple[str, int], offset: int, payload: Any, kind: str = "inference") -> RawMessage:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return RawMessage(source[0], source[1], offset, raw, kind)


def table(out: BatchOutput) -> dict[tuple, tuple[float, float]]:
    """(source, window, model, version, name, bucket) -> (count, total)."""
    rows: dict[tuple, tuple[float, float]] = {}
    for source, src in out.sources.items():
        for p in src.partials:
            key = (source, p.window_start, p.model, p.model_version, p.name, p.bucket)
            assert key not in rows
            rows[key] = (p.count, p.total)
    return rows


def by_name(partials: list[Partial]) -> dict[tuple[str, float, str], tuple[float, float]]:
    """Scalar partials by name; sketch buckets are checked in tests/monitor/outcomes/test_sketch.py."""
    return {
        (p.name, p.window_start, p.model_version): (p.count, p.total)
        for p in partials
        if not p.name.startswith("sketch:")
    }


def test_single_message_counts_and_scalars() -> None:
    messages = [
        msg(
            INF,
            0,
            [
                inf("c", 9_900, version="v2"),  # first: later it would be late
                inf("a", 9_990, latency_ms=100, usage={"input_tokens": 7}),
                inf("b", 9_995, latency_ms=300),
            ],
        )
    ]
    out = process_batch(messages, {}, CFG)
    src = out.sources[INF]
    assert (src.last_offset, src.watermark) == (0, 9_995)
    assert by_name(src.partials) == {
        ("inference_events", 9_960.0, "v1"): (2.0, 2.0),
        ("inference_events", 9_900.0, "v2"): (1.0, 1.0),
        ("latency_ms", 9_960.0, "v1"): (2.0, 400.0),
        ("input_tokens", 9_960.0, "v1"): (1.0, 7.0),
    }
    assert out.events["inference"] == 3 and out.late["inference"] == 0
    assert [e.request_id for e in out.inferences] == ["c", "a", "b"]
    assert out.messages["monitor.inference"] == 1 and out.rejections == []


def test_replay_skips_offsets_at_or_below_the_position() -> None:
    messages = [msg(INF, o, inf(f"r{o}", 9_990)) for o in range(5, 10)]
    out = process_batch(messages, {INF: Position(7, 0.0)}, CFG)
    assert out.skipped["monitor.inference"] == 3
    assert out.messages["monitor.inference"] == 2
    assert [e.request_id for e in out.inferences] == ["r8", "r9"]
    assert out.sources[INF].last_offset == 9
    assert by_name(out.sources[INF].partials)[("inference_events", 9_960.0, "v1")] == (2.0, 2.0)


def test_fully_replayed_source_produces_no_output() -> None:
    out = process_batch([msg(INF, 3, inf("a", 9_990))], {INF: Position(3, 9_990.0)}, CFG)
    assert out.sources == {} and out.inferences == []
    assert out.skipped["monitor.inference"] == 1


def test_messages_are_sorted_by_offset_within_a_partition() -> None:
    # Offset 2 is newer but arrives first in the list: the watermark must still follow offsets.
    messages = [msg(INF, 2, inf("new", 9_990)), msg(INF, 1, inf("old", 9_000))]
    out = process_batch(messages, {}, CFG)
    assert out.late["inference"] == 0
    assert [e.request_id for e in out.inferences] == ["old", "new"]
    assert out.sources[INF].last_offset == 2


def test_partitions_are_grouped_and_have_their_own_watermark() -> None:
    p1 = ("monitor.inference", 1)
    messages = [
        msg(INF, 0, inf("a", 9_990)),
        msg(p1, 0, inf("b", 5_000)),
        msg(INF, 1, inf("c", 9_991)),
        msg(p1, 1, inf("d", 5_001)),
    ]
    out = process_batch(messages, {p1: Position(-1, 0.0)}, CFG)
    assert set(out.sources) == {INF, p1}
    assert out.sources[INF].watermark == 9_991 and out.sources[p1].watermark == 5_001
    assert out.sources[INF].last_offset == 1 and out.sources[p1].last_offset == 1
    # 5_000 is not late: partition 0's later events don't move partition 1's watermark.
    assert out.late["inference"] == 0 and out.events["inference"] == 4


def test_bad_messages_become_rejections_and_good_events_still_count() -> None:
    messages = [
        msg(INF, 0, [inf("a", 9_990), inf("b", 9_990, model=3), inf("c", 9_990)]),
        msg(INF, 1, b"{garbage"),
        RawMessage(INF[0], INF[1], 2, None, "inference"),  # a tombstone
        msg(INF, 3, inf("d", NOW + 3_600)),
    ]
    out = process_batch(messages, {}, CFG)
    assert [(m.offset, r.reason, r.index) for m, r in out.rejections] == [
        (0, "wrong_type", 1),
        (1, "undecodable", -1),
        (2, "undecodable", -1),
        (3, "future_timestamp", 0),
    ]
    assert [e.request_id for e in out.inferences] == ["a", "c"]
    assert out.events["inference"] == 2 and out.messages["monitor.inference"] == 4
    assert by_name(out.sources[INF].partials)[("inference_events", 9_960.0, "v1")] == (2.0, 2.0)
    assert out.sources[INF].last_offset == 3


def test_all_rejected_keeps_the_watermark_and_moves_the_offset() -> None:
    out = process_batch([msg(INF, 4, b"nope")], {INF: Position(3, 1_234.0)}, CFG)
    src = out.sources[INF]
    assert (src.last_offset, src.watermark, src.partials) == (4, 1_234.0, [])
    assert len(out.rejections) == 1


def test_late_events_are_counted_apart() -> None:
    # Watermark 9_990; an event at 9_000 is in [9_000, 9_060), which closed at 9_090 <= 9_990.
    messages = [
        msg(INF, 0, [inf("late", 9_000, latency_ms=50), inf("late2", 9_001), inf("ok", 9_980)])
    ]
    out = process_batch(messages, {INF: Position(-1, 9_990.0)}, CFG)
    parts = by_name(out.sources[INF].partials)
    assert parts[("late_inference_events", 9_000.0, "v1")] == (2.0, 2.0)
    assert parts[("inference_events", 9_960.0, "v1")] == (1.0, 1.0)
    assert ("inference_events", 9_000.0, "v1") not in parts
    assert ("latency_ms", 9_000.0, "v1") not in parts
    assert out.late["inference"] == 2 and out.events["inference"] == 1
    assert [e.request_id for e in out.inferences] == ["ok"]


def test_allowed_lateness_keeps_an_event_on_time() -> None:
    # Window [9_900, 9_960) closes at 9_990 with 30 s lateness: on time below watermark 9_990, late at it.
    on_time = process_batch([msg(INF, 0, inf("a", 9_930))], {INF: Position(-1, 9_989.0)}, CFG)
    late = process_batch([msg(INF, 0, inf("a", 9_930))], {INF: Position(-1, 9_990.0)}, CFG)
    assert on_time.late["inference"] == 0 and late.late["inference"] == 1


def test_watermark_advances_within_the_batch() -> None:
    messages = [
        msg(INF, 0, inf("a", 9_000)),
        msg(INF, 1, inf("b", 9_990)),
        msg(INF, 2, inf("c", 9_001)),
    ]
    out = process_batch(messages, {}, CFG)
    assert out.sources[INF].watermark == 9_990
    assert out.late["inference"] == 1
    assert by_name(out.sources[INF].partials)[("late_inference_events", 9_000.0, "v1")] == (
        1.0,
        1.0,
    )


def test_feedback_partials() -> None:
    fb = [
        {"request_id": "a", "timestamp": 9_990, "rating": 5, "model": "m", "model_version": "v1"},
        {"request_id": "b", "timestamp": 9_991, "thumbs": "up"},
        {"request_id": "c", "timestamp": 100},
    ]
    out = process_batch([msg(FB, 0, fb, "feedback")], {}, CFG)
    parts = {(p.name, p.model, p.model_version): p.count for p in out.sources[FB].partials}
    assert parts == {
        ("feedback_events", "m", "v1"): 1.0,
        ("feedback_events", "", ""): 1.0,
        ("late_feedback_events", "", ""): 1.0,
    }
    assert [e.request_id for e in out.feedback] == ["a", "b"]
    assert out.events["feedback"] == 2 and out.late["feedback"] == 1 and out.inferences == []


def test_extra_inference_folds_see_only_on_time_events() -> None:
    seen: list[list[str]] = []

    def fold(events: list[InferenceEvent], columns: FoldColumns, window: int) -> list[Partial]:
        seen.append([e.request_id for e in events])
        assert columns.times.tolist() == [e.timestamp for e in events]
        assert columns.models == [e.model for e in events]
        assert columns.versions == [e.model_version for e in events]
        return fold_counts(
            columns.starts,
            columns.models,
            columns.versions,
            columns.times,
            "custom",
            window_seconds=window,
            grouped=columns.grouped,
        )

    messages = [msg(INF, 0, [inf("x", 9_990), inf("late", 100), inf("y", 9_991)])]
    out = process_batch(messages, {}, CFG, inference_folds=[fold])
    assert seen == [["x", "y"]]
    assert by_name(out.sources[INF].partials)[("custom", 9_960.0, "v1")] == (2.0, 2.0)


# --- batching invariance ---------------------------------------------------------------------

element = st.one_of(
    st.builds(
        lambda t, v, lat: inf("r", t, version=v, latency_ms=lat),
        st.integers(8_000, 10_200),
        st.sampled_from(["v1", "v2"]),
        st.integers(0, 500),
    ),
    st.just({"request_id": "bad"}),
)
message_payloads = st.lists(
    st.one_of(st.lists(element, min_size=1, max_size=4), element, st.just(b"{")),
    min_size=1,
    max_size=14,
)


def merged(outputs: list[BatchOutput]) -> dict[tuple, tuple[float, float]]:
    total: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for out in outputs:
        for key, (count, value) in table(out).items():
            total[key][0] += count
            total[key][1] += value
    return {k: (c, t) for k, (c, t) in total.items()}


def run_in_batches(
    messages: list[RawMessage], bounds: list[int], positions: dict[tuple[str, int], Position]
) -> list[BatchOutput]:
    outputs = []
    for lo, hi in itertools.pairwise(bounds):
        out = process_batch(messages[lo:hi], positions, CFG)
        for source, src in out.sources.items():
            positions[source] = Position(src.last_offset, src.watermark)
        outputs.append(out)
    return outputs


@settings(max_examples=80, deadline=None)
@given(message_payloads, message_payloads, st.lists(st.integers(0, 28), max_size=6))
def test_result_is_independent_of_batching(p0: list, p1: list, cuts: list[int]) -> None:
    source1 = ("monitor.inference", 1)
    messages = sorted(
        [msg(INF, o, p) for o, p in enumerate(p0)] + [msg(source1, o, p) for o, p in enumerate(p1)],
        key=lambda m: (m.offset, m.partition),
    )  # interleaved partitions, offset order in each
    whole = process_batch(messages, {}, CFG)
    bounds = sorted({0, len(messages), *(c for c in cuts if c <= len(messages))})
    positions: dict[tuple[str, int], Position] = {}
    parts = run_in_batches(messages, bounds, positions)

    assert merged(parts) == table(whole)
    assert sum(o.late["inference"] for o in parts) == whole.late["inference"]
    assert sum(o.events["inference"] for o in parts) == whole.events["inference"]
    assert sorted(
        (m.partition, m.offset, r.index, r.reason) for o in parts for m, r in o.rejections
    ) == sorted((m.partition, m.offset, r.index, r.reason) for m, r in whole.rejections)
    for source, src in whole.sources.items():
        assert positions[source] == Position(src.last_offset, src.watermark)

    # Redelivering everything after a crash adds nothing.
    again = process_batch(messages, positions, CFG)
    assert again.sources == {} and again.rejections == []
    assert sum(again.skipped.values()) == len(messages)


@pytest.mark.parametrize("crash_after", [1, 2, 3])
def test_redelivery_after_a_crash_counts_each_event_once(crash_after: int) -> None:
    messages = [msg(INF, o, inf(f"r{o}", 9_000 + 10 * o)) for o in range(4)]
    first = process_batch(messages[:crash_after], {}, CFG)
    src = first.sources[INF]
    # The consumer rewinds to offset 0; everything is delivered again.
    second = process_batch(messages, {INF: Position(src.last_offset, src.watermark)}, CFG)
    assert second.skipped["monitor.inference"] == crash_after
    counted = merged([first, second])
    assert (
        sum(c for (s, w, m, v, name, b), (c, _) in counted.items() if name == "inference_events")
        == 4
    )


def test_each_valid_event_carries_its_message_offset_beside_its_id() -> None:
    """Offsets run parallel to the event ids, shadow answers and rejected elements left out."""
    src = ("inf", 0)
    messages = [
        msg(src, 5, [inf("a", 9_990.0), {"request_id": 1}, inf("b", 9_991.0)]),
        msg(src, 6, [inf("c", 9_992.0, deployment="shadow"), inf("d", 9_993.0)]),
        msg(src, 7, inf("e", 9_994.0)),
    ]
    out = process_batch(messages, {}, CFG)
    source = out.sources[src]
    assert source.offsets == [int(i.split(":")[2]) for i in source.event_ids] == [5, 5, 6, 7]
    assert [e.request_id for e in source.valid] == ["a", "b", "d", "e"]
    assert source.shadow_ids == ["inf:0:6:0"]


@settings(max_examples=80, deadline=None)
@given(
    message_payloads,
    st.lists(st.booleans(), max_size=30),
    st.sampled_from([1, 2, 3, 7]),
)
def test_folding_in_chunks_gives_the_whole_fold(payloads: list, shadows: list, chunk: int) -> None:
    """A source decoded and folded in chunks (FOLD_CHUNK_EVENTS) gives the same events, ids,
    offsets, late flags, shadow answers, watermark and partials (one per key) as one fold."""
    from monitor.folding import pipeline

    def shadowed(payload: Any, is_shadow: bool) -> Any:
        if isinstance(payload, bytes):
            return payload
        elements = payload if isinstance(payload, list) else [payload]
        marked = [
            dict(e, deployment="shadow") if is_shadow and "timestamp" in e else e for e in elements
        ]
        return marked if isinstance(payload, list) else marked[0]

    marks = shadows + [False] * len(payloads)
    messages = [msg(INF, o, shadowed(p, marks[o])) for o, p in enumerate(payloads)]
    start = {INF: Position(-1, 9_000.0)}  # some events late from the start
    whole = process_batch(messages, start, CFG)
    saved = pipeline.FOLD_CHUNK_EVENTS
    pipeline.FOLD_CHUNK_EVENTS = chunk
    try:
        chunked = process_batch(messages, start, CFG)
    finally:
        pipeline.FOLD_CHUNK_EVENTS = saved
    rows, expected = table(chunked), table(whole)
    assert rows.keys() == expected.keys()
    for key, (count, total) in expected.items():
        assert rows[key] == (count, pytest.approx(total)), key
    assert chunked.events == whole.events and chunked.late == whole.late
    assert [e.request_id for e in chunked.inferences] == [e.request_id for e in whole.inferences]
    for source, src in whole.sources.items():
        got = chunked.sources[source]
        assert (got.event_ids, got.offsets, got.late, got.shadow_ids, got.watermark) == (
            src.event_ids,
            src.offsets,
            src.late,
            src.shadow_ids,
            src.watermark,
        )
        assert [e.timestamp for e in got.valid] == [e.timestamp for e in src.valid]
