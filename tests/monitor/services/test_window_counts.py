"""Counts that add up: one definition of what a window counts, whatever the arrival order and batching.

Events go through ``process_batch`` and ``OutcomeStage`` (in-process join store, embedded
ClickHouse for detector state) exactly as the worker runs them, batch after batch, with positions
carried over like the store carries them.
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.join_store import MemoryJoinStore
from monitor.folding.pipeline import BatchConfig, Position, RawMessage, process_batch
from monitor.services.outcomes import OutcomeStage

W = 60
T0 = 1_767_225_600.0


events_strategy = st.lists(
    st.tuples(
        st.floats(0, 4 * W - 0.001, allow_nan=False),  # inference time offset
        st.sampled_from(["v1", "v2"]),
        st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {  # its feedback, if any
                    "delay": st.floats(0, 3 * W, allow_nan=False),
                    "rating": st.none() | st.integers(1, 5),
                    "thumbs": st.none() | st.sampled_from(["up", "down"]),
                    "task_completed": st.none() | st.booleans(),
                }
            ),
        ),
        st.integers(0, 1),  # partition
    ),
    min_size=1,
    max_size=40,
)


def messages_of(events, inf_topic: str, fb_topic: str, order: list[int]) -> list[RawMessage]:
    """Inference and feedback messages in the given arrival order, offsets assigned per partition."""
    arrivals = []
    for i in order:
        t, version, fb, partition = events[i]
        body = {
            "request_id": f"r{i}",
            "timestamp": T0 + t,
            "model": "m",
            "model_version": version,
            "latency_ms": 10.0 + i,
        }
        arrivals.append((inf_topic, partition, "inference", body))
        if fb is not None:
            fb_body = {
                "request_id": f"r{i}",
                "timestamp": T0 + t + fb["delay"],
                **{k: v for k, v in fb.items() if k != "delay" and v is not None},
            }
            arrivals.append((fb_topic, partition, "feedback", fb_body))
    offsets: dict[tuple[str, int], int] = defaultdict(int)
    out = []
    for topic, partition, kind, body in arrivals:
        out.append(
            RawMessage(topic, partition, offsets[(topic, partition)], orjson.dumps(body), kind)
        )
        offsets[(topic, partition)] += 1
    return out


def run(
    store: ClickHouseStore, messages: list[RawMessage], cuts: list[int], lateness: float
) -> dict:
    """Sum of every partial per (window, version, name, bucket) after batches cut at ``cuts``."""
    rename = uuid.uuid4().hex[:8]  # detector state of one run never leaks into another
    msgs = [
        RawMessage(f"{m.topic}-{rename}", m.partition, m.offset, m.value, m.kind) for m in messages
    ]
    stage = OutcomeStage(MemoryJoinStore(), window_seconds=W)
    cfg = BatchConfig(
        window_seconds=W, allowed_lateness=lateness, max_future_skew=1e9, now=T0 + 10 * W
    )
    positions: dict[tuple[str, int], Position] = {}
    sums: dict[tuple, float] = defaultdict(float)
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(msgs)), len(msgs)]
    for lo, hi in itertools.pairwise(bounds):
        if lo == hi:
            continue
        out = process_batch(msgs[lo:hi], positions, cfg, (), stage.join_store.stored_inferences)
        stage.process(out, now=T0 + 10 * W)
        for (topic, partition), source in out.sources.items():
            positions[(topic, partition)] = Position(source.last_offset, source.watermark)
            for p in source.partials:
                sums[(p.window_start, p.model_version, p.name, p.bucket)] += p.count
    return dict(sums)


def check_counts_add_up(events, sums: dict) -> None:
    inferences: dict[tuple, float] = defaultdict(float)
    for t, version, _, _ in events:
        inferences[(T0 + (t // W) * W, version)] += 1
    for (window, version), n in inferences.items():
        counted = sums.get((window, version, "inference_events", ""), 0.0)
        too_late = sums.get((window, version, "late_inference_events", ""), 0.0)
        assert counted + too_late == n  # every inference is either counted or counted as too late
    for (window, version, name, segment), denominator in sums.items():
        if name.startswith("outcome:"):
            assert denominator <= sums.get((window, version, "inference_events", ""), 0.0), (
                window,
                name,
            )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=events_strategy, data=st.data(), lateness=st.sampled_from([0.0, 30.0, 90.0]))
def test_outcome_denominators_never_exceed_the_inferences_counted_and_batching_changes_nothing(
    window_store: ClickHouseStore, events, data, lateness
) -> None:
    order = data.draw(st.permutations(range(len(events))), label="arrival order")
    messages = messages_of(events, "inf", "fb", order)
    cuts_a = data.draw(st.lists(st.integers(0, len(messages)), max_size=6), label="batch cuts")
    cuts_b = data.draw(
        st.lists(st.integers(0, len(messages)), max_size=6), label="other batch cuts"
    )
    first = run(window_store, messages, cuts_a, lateness)
    check_counts_add_up(events, first)
    assert run(window_store, messages, cuts_b, lateness) == pytest.approx(first)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=events_strategy, data=st.data())
def test_with_nothing_too_late_totals_do_not_depend_on_arrival_order(
    window_store: ClickHouseStore, events, data
) -> None:
    order_a = data.draw(st.permutations(range(len(events))), label="one arrival order")
    order_b = data.draw(st.permutations(range(len(events))), label="another arrival order")
    cuts = data.draw(st.lists(st.integers(0, 2 * len(events)), max_size=5), label="batch cuts")
    lateness = 10 * W  # longer than the spread of the events: nothing is too late
    a = run(window_store, messages_of(events, "inf", "fb", order_a), cuts, lateness)
    b = run(window_store, messages_of(events, "inf", "fb", order_b), cuts, lateness)
    check_counts_add_up(events, a)
    assert not any(name.startswith("late_") for _, _, name, _ in a)
    assert b == pytest.approx(a)


def test_a_too_late_inference_takes_its_outcomes_out_of_the_window(
    window_store: ClickHouseStore,
) -> None:
    # r0 at 5 s; r1 at 200 s moves the watermark; r2 at 10 s arrives too late, its feedback arrives before it.
    events = [
        (5.0, "v1", {"delay": 1.0, "rating": 5, "thumbs": None, "task_completed": None}, 0),
        (200.0, "v1", None, 0),
        (10.0, "v1", {"delay": 1.0, "rating": 1, "thumbs": None, "task_completed": None}, 0),
    ]
    messages = messages_of(events, "inf", "fb", [0, 1, 2])
    fb_first = [m for m in messages if m.kind == "feedback"] + [
        m for m in messages if m.kind == "inference"
    ]
    for ordering in (messages, fb_first):
        sums = run(window_store, ordering, [], lateness=30.0)
        assert sums[(T0, "v1", "inference_events", "")] == 1
        assert sums[(T0, "v1", "late_inference_events", "")] == 1
        assert sums[(T0, "v1", "outcome:satisfaction", "")] == 1  # r0's only: r2 was not counted
        check_counts_add_up(events, sums)


@pytest.fixture(scope="module")
def window_store(chdb_dir: Path) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    s.migrate()
    yield s
    s.command(f"DROP DATABASE IF EXISTS {s.db}")


@pytest.mark.parametrize(
    "cuts", [[], [1], [1, 2, 3, 4]], ids=["one batch", "inference apart", "each apart"]
)
def test_a_resent_feedback_counts_once_and_one_without_an_id_each_time(
    window_store: ClickHouseStore, cuts: list[int]
) -> None:
    inference = {"request_id": "r1", "timestamp": T0 + 1, "model": "m", "model_version": "v1"}
    rating = {"request_id": "r1", "timestamp": T0 + 2, "rating": 5, "feedback_id": "survey-1"}
    thumbs = {"request_id": "r1", "timestamp": T0 + 3, "thumbs": "down"}  # no id: each counts
    arrivals = [("inf", inference), ("fb", rating), ("fb", rating), ("fb", thumbs), ("fb", thumbs)]
    messages = [
        RawMessage(
            topic, 0, offset, orjson.dumps(body), "inference" if topic == "inf" else "feedback"
        )
        for offset, (topic, body) in enumerate(arrivals)
    ]
    sums = run(window_store, messages, cuts, lateness=10 * W)
    window = (T0, "v1")
    assert sums[(*window, "outcome:rating", "")] == 1.0  # the resend joined nothing
    assert sums[(*window, "outcome:satisfaction", "")] == 3.0  # the rating once, thumbs twice
    assert sums[(T0, "", "feedback_events", "")] == 4.0  # every feedback event was received


def all_partials(messages: list[RawMessage], cuts: list[int]) -> dict[tuple, tuple[float, float]]:
    """(count, total) of every partial per (window, model, version, name, bucket), batches cut at
    ``cuts``, as the worker folds them (resends told by the join store)."""
    stage = OutcomeStage(MemoryJoinStore(), window_seconds=W)
    cfg = BatchConfig(window_seconds=W, allowed_lateness=W, max_future_skew=1e9, now=T0 + 10 * W)
    positions: dict[tuple[str, int], Position] = {}
    sums: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(messages)), len(messages)]
    for lo, hi in itertools.pairwise(bounds):
        out = process_batch(messages[lo:hi], positions, cfg, (), stage.join_store.stored_inferences)
        stage.process(out, now=T0 + 10 * W)
        for source_key, source in out.sources.items():
            positions[source_key] = Position(source.last_offset, source.watermark)
            for p in source.partials:
                key = (p.window_start, p.model, p.model_version, p.name, p.bucket)
                sums[key][0] += p.count
                sums[key][1] += p.total
    return {key: (count, total) for key, (count, total) in sums.items()}


def raw_messages(arrivals: list[tuple[str, dict]]) -> list[RawMessage]:
    offsets: dict[str, int] = defaultdict(int)
    messages = []
    for topic, body in arrivals:
        kind = "inference" if topic == "inf" else "feedback"
        messages.append(RawMessage(topic, 0, offsets[topic], orjson.dumps(body), kind))
        offsets[topic] += 1
    return messages


ASSIGNED = {"model": "m", "model_version": "v1", "experiment": "e1", "variant": "b"}


@pytest.mark.parametrize("cuts", [[], [1], [1, 2, 3, 4, 5]], ids=["one batch", "cut", "apart"])
def test_a_resent_inference_adds_nothing_but_its_resent_count(cuts: list[int]) -> None:
    first = {"request_id": "r1", "timestamp": T0 + 1, "latency_ms": 100.0, **ASSIGNED}
    first["features"] = {"x": 1.0}
    other = {"request_id": "r2", "timestamp": T0 + 2, "latency_ms": 50.0, **ASSIGNED}
    rating = {"request_id": "r1", "timestamp": T0 + 3, "rating": 5, "thumbs": "up"}
    # the producer's retry: the same request, model, version and time at a later offset (its other
    # fields may differ: a retry re-serialised); another latency, to show it folds nowhere
    retry = {**first, "latency_ms": 900.0}
    base = [("inf", first), ("inf", other), ("fb", rating)]
    expected = all_partials(raw_messages(base), cuts)
    for place in (1, 2, 3):  # before the next inference, before the feedback, after it
        arrivals = [*base[:place], ("inf", retry), *base[place:]]
        got = all_partials(raw_messages(arrivals), cuts)
        resent = (T0, "m", "v1", "resent_inference_events", "")
        assert got.pop(resent) == (1.0, 1.0), place
        assert got == expected, place


def test_another_model_version_or_time_under_a_held_request_id_counts_as_traffic() -> None:
    first = {"request_id": "r1", "timestamp": T0 + 1, "model": "m", "model_version": "v1"}
    arrivals = [
        ("inf", first),
        ("inf", {**first, "model_version": "v2"}),  # another version under the id: not a resend
        ("inf", {**first, "model": "n"}),
        ("inf", {**first, "timestamp": T0 + 5}),  # the id reused later (a restarted counter)
        ("inf", {**first, "latency_ms": 3.0}),  # the first one again, re-serialised: a resend
    ]
    for cuts in ([], [2], [1, 2, 3, 4]):
        got = all_partials(raw_messages(arrivals), cuts)
        counts = {key[1:3]: value[0] for key, value in got.items() if key[3] == "inference_events"}
        assert counts == {("m", "v1"): 2.0, ("m", "v2"): 1.0, ("n", "v1"): 1.0}, cuts
        assert got[(T0, "m", "v1", "resent_inference_events", "")] == (1.0, 1.0), cuts


def test_a_batch_prepared_again_after_a_failed_write_counts_the_same() -> None:
    """An outage after the join store took the batch: the batch is prepared again and its events,
    held under their own ids, are replays, not resends."""
    first = {"request_id": "r1", "timestamp": T0 + 1, "latency_ms": 80.0, **ASSIGNED}
    messages = raw_messages([("inf", first), ("inf", {**first, "latency_ms": 9.0})])
    stage = OutcomeStage(MemoryJoinStore(), window_seconds=W)
    cfg = BatchConfig(window_seconds=W, allowed_lateness=W, max_future_skew=1e9, now=T0 + 10 * W)
    attempts = []
    for _ in range(2):  # the first attempt's write failed: nothing of it is in the store
        out = process_batch(messages, {}, cfg, (), stage.join_store.stored_inferences)
        stage.process(out, now=T0 + 10 * W)
        attempts.append((sorted(out.sources[("inf", 0)].partials), dict(out.resent)))
    assert attempts[0] == attempts[1]
    assert attempts[0][1] == {"inference": 1}
