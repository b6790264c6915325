from __future__ import annotations

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.contract.events import FeedbackEvent, InferenceEvent
from monitor.detectors.values import value_position
from monitor.outcomes.fold import JoinedOutcome
from monitor.outcomes.join import (
    detector_values,
    feedback_payload,
    inference_payload,
    join_positions,
    joined_outcome,
)

predictions = (
    st.none()
    | st.sampled_from(["yes", "no"])
    | st.integers(-5, 5)
    | st.booleans()
    | st.floats(-1e6, 1e6, allow_nan=False)
)
inference_events = st.builds(
    InferenceEvent,
    request_id=st.text(min_size=1, max_size=8),
    timestamp=st.floats(-1e9, 4e9, allow_nan=False),
    model=st.text(min_size=1, max_size=5),
    model_version=st.text(min_size=1, max_size=5),
    prediction=predictions,
    latency_ms=st.none() | st.floats(0, 1e6, allow_nan=False),
    segment=st.dictionaries(
        st.text(min_size=1, max_size=4), st.text(min_size=1, max_size=4), max_size=3
    ),
)
feedback_events = st.builds(
    FeedbackEvent,
    request_id=st.text(min_size=1, max_size=8),
    timestamp=st.floats(-1e9, 4e9, allow_nan=False),
    label=predictions,
    rating=st.none() | st.integers(1, 5),
    thumbs=st.none() | st.sampled_from(["up", "down"]),
    task_completed=st.none() | st.booleans(),
    human_takeover=st.none() | st.booleans(),
    bad_case=st.none() | st.booleans(),
    turns=st.none() | st.integers(0, 50),
    judge_score=st.none() | st.floats(0, 10, allow_nan=False),
)


@given(inference_events, feedback_events)
def test_payloads_round_trip_into_the_joined_outcome(
    inf: InferenceEvent, fb: FeedbackEvent
) -> None:
    outcome = joined_outcome(
        "rid", inference_payload(inf, "t:0:1:0"), feedback_payload(fb, "f:1:2:3")
    )
    assert outcome == JoinedOutcome(
        "rid",
        inf.model,
        inf.model_version,
        inf.timestamp,
        fb.timestamp,
        prediction=inf.prediction,
        label=fb.label,
        rating=fb.rating,
        thumbs=fb.thumbs,
        task_completed=fb.task_completed,
        human_takeover=fb.human_takeover,
        bad_case=fb.bad_case,
        turns=fb.turns,
        judge_score=fb.judge_score,
        latency_ms=inf.latency_ms,
        segment=dict(inf.segment),
    )
    # the type survives too: True must not come back as 1, nor 1 as 1.0
    assert type(outcome.prediction) is type(inf.prediction)
    assert type(outcome.label) is type(fb.label)


def test_feedback_payload_keeps_only_reported_fields_and_never_text() -> None:
    fb = FeedbackEvent("r1", 5.0, rating=2, human_takeover=False, model="m", model_version="v")
    assert orjson.loads(feedback_payload(fb, "fb:0:9:1")) == {
        "id": "fb:0:9:1",
        "t": 5.0,
        "rating": 2,
        "human_takeover": False,
    }
    inf = InferenceEvent(
        "r1",
        1.0,
        "m",
        "v",
        input_text="secret prompt",
        output_text="secret answer",
        features={"x": 1.0},
    )
    assert b"secret" not in inference_payload(inf, "i:0:1:0")


def test_a_payload_without_segment_or_prediction_gives_empty_defaults() -> None:
    outcome = joined_outcome("r", b'{"t": 1, "m": "m", "v": "v"}', b'{"t": 2}')
    assert (outcome.prediction, outcome.label, outcome.segment, outcome.latency_ms) == (
        None,
        None,
        {},
        None,
    )
    assert (outcome.inference_time, outcome.feedback_time) == (1.0, 2.0)


@pytest.mark.parametrize(
    ("event_id", "offset"),
    [
        ("monitor.feedback:3:1234:0", 1234),
        (
            "a:b:c:7:2",
            7,
        ),  # topic names may contain colons: the offset is the second field from the end
        ("t:0:0:5", 0),
        ("", -1),
        ("t:0:5", -1),
    ],
)
def test_a_join_position_is_at_the_offset_of_the_completing_event(
    event_id: str, offset: int
) -> None:
    feedback = feedback_payload(FeedbackEvent("r", 1.0, rating=3), event_id)
    inference = inference_payload(InferenceEvent("r", 1.0, "m", "v"), event_id)
    other = feedback_payload(FeedbackEvent("r", 1.0, rating=3), "fb:0:1:0")
    assert join_positions([feedback], [other]) == [value_position(offset, 0)]
    assert join_positions([inference], [other]) == [value_position(offset, 0)]


def test_a_join_position_of_a_payload_without_id_or_with_escapes_in_it() -> None:
    assert join_positions([b'{"t": 1.0}'], [b'{"t": 2.0}']) == [value_position(-1, 0)]
    escaped = b'{"id":"t\\u0041:0:9:0","t":1.0}'  # a JSON escape: read by parsing
    assert join_positions([escaped], [b"{}"]) == [value_position(9, 0)]


@given(st.permutations(range(6)))
def test_join_positions_rank_an_offsets_outcomes_the_same_whatever_the_order(order) -> None:
    """One inference completing six pending feedback events: each outcome's position depends on
    the events, not on the order the join store answered in."""
    inference = inference_payload(InferenceEvent("r", 1.0, "m", "v"), "inf:0:42:3")
    pending = [feedback_payload(FeedbackEvent("r", 2.0), f"fb:1:{10 + k}:0") for k in range(6)]
    by_event = dict(
        zip(
            [pending[k] for k in order],
            join_positions([inference] * 6, [pending[k] for k in order]),
        )
    )
    assert [by_event[p] for p in pending] == [value_position(42, k) for k in range(6)]


def outcome(rid: str, version: str = "v1", **fields) -> JoinedOutcome:
    return JoinedOutcome(rid, "m", version, 0.0, 1.0, **fields)


def streams_of(outcomes, offsets=None):
    offsets = list(range(len(outcomes))) if offsets is None else offsets
    return {
        key: {s: list(v.values) for s, v in per.items()}
        for key, per in detector_values(outcomes, offsets).items()
    }


def test_detector_values_keep_outcome_order_per_version_and_leave_out_missing_values() -> None:
    outcomes = [
        outcome("a", prediction="x", label="x", rating=5),  # right, satisfied
        outcome("b", "v2", prediction="x", label="y"),  # other version: wrong
        outcome("c", prediction="x"),  # no label: no error value
        outcome("d", label="y", thumbs="down"),  # no prediction: no error value
        outcome("e", prediction=1, label=2, rating=3, judge_score=6.5),
        outcome("f", thumbs="up", judge_score=0.0),
        outcome(
            "g", prediction="x", label="y", rating=4, thumbs="down"
        ),  # a rating wins over thumbs
    ]
    assert streams_of(outcomes) == {
        ("m", "v1"): {
            "error": [0.0, 1.0, 1.0],
            "satisfaction": [1.0, 0.0, 0.0, 1.0, 1.0],
            "judge_score": [6.5, 0.0],
        },
        ("m", "v2"): {"error": [1.0]},
    }
    v1 = detector_values(outcomes, [10, 11, 12, 13, 14, 15, 16])[("m", "v1")]
    assert v1["error"].positions == (10, 14, 16) and v1["judge_score"].positions == (14, 15)


def test_detector_values_of_outcomes_without_values() -> None:
    assert streams_of([outcome("a", task_completed=True, turns=3)]) == {}
    assert streams_of([]) == {}


def test_detector_values_are_in_order_with_their_times() -> None:
    rng = np.random.default_rng(0)
    errors = rng.random(500) < 0.3
    outcomes = [
        outcome(str(i), prediction="p", label="p" if not e else "q") for i, e in enumerate(errors)
    ]
    column = detector_values(outcomes, list(range(500)))[("m", "v1")]["error"]
    np.testing.assert_array_equal(np.asarray(column.values), errors.astype(np.float64))
    assert column.times == (1.0,) * 500 and column.positions == tuple(range(500))


@given(
    inference_events,
    st.booleans(),
    st.none() | st.text(min_size=1, max_size=4),
    st.none() | st.text(min_size=1, max_size=4),
    st.none() | st.floats(-1e6, 1e6, allow_nan=False),
)
def test_inference_payload_holds_exactly_the_set_members(event, counted, experiment, variant, x):
    """The payload struct omits ``late``, ``e``, ``a`` and ``x`` unless set, as the reader expects."""
    from dataclasses import replace

    event = replace(event, experiment=experiment, variant=variant)
    payload = orjson.loads(inference_payload(event, "t:0:5:1", counted=counted, covariate=x))
    expected = {
        "id": "t:0:5:1",
        "t": event.timestamp,
        "m": event.model,
        "v": event.model_version,
        "p": event.prediction,
        "l": event.latency_ms,
        "s": dict(event.segment),
    }
    if not counted:
        expected["late"] = True
    if experiment is not None and variant is not None:
        expected |= {"e": experiment, "a": variant} | ({} if x is None else {"x": x})
    assert payload == expected
    assert list(payload)[:1] == ["id"]  # the Redis scripts read the leading {"id":"


@given(st.lists(inference_events, max_size=30))
def test_latency_values_per_version_keep_each_events_offset_and_time(events) -> None:
    from monitor.outcomes.join import latency_columns

    offsets = list(range(100, 100 + len(events)))
    got = detector_values([], [], latency_columns(events, offsets))
    expected: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    for event, offset in zip(events, offsets):
        if event.latency_ms is not None:
            expected.setdefault((event.model, event.model_version), []).append(
                (offset, float(event.latency_ms), event.timestamp)
            )
    assert {
        key: list(zip(s["latency_ms"].positions, s["latency_ms"].values, s["latency_ms"].times))
        for key, s in got.items()
    } == expected
