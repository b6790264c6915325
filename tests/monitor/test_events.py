from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.contract.events import (
    DEPLOYMENTS,
    FeedbackEvent,
    InferenceEvent,
    validate_event,
    validate_feedback,
    validate_inference,
)
from monitor.contract.fields import MAX_FEATURES, MAX_ID_LENGTH
from monitor.errors import InvalidEvent, MonitorError

NOW = 1767225600.0


def inference(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "request_id": "r1",
        "timestamp": NOW - 5,
        "model": "m",
        "model_version": "v1",
    }
    obj.update(changes)
    return obj


def feedback(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"request_id": "r1", "timestamp": NOW - 5}
    obj.update(changes)
    return obj


def rejected(validate: Any, obj: Any, **kwargs: Any) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as info:
        validate(obj, now=NOW, **kwargs)
    assert isinstance(info.value, MonitorError)
    return info.value


# --- inference -------------------------------------------------------------------------------


def test_minimal_inference_defaults() -> None:
    ev = validate_inference(inference(), now=NOW)
    assert ev == InferenceEvent(request_id="r1", timestamp=NOW - 5, model="m", model_version="v1")
    assert ev.deployment == "production"
    assert ev.features == {} and ev.segment == {}
    assert ev.input_tokens is None and ev.latency_ms is None and ev.turn is None


def test_full_inference() -> None:
    ev = validate_inference(
        inference(
            deployment="canary",
            features={"len": 12, "lang": "en", "vip": True, "x": None, "r": 0.5},
            input_text="hi",
            output_text="hello",
            prediction="yes",
            score=0.9,
            latency_ms=120,
            usage={"input_tokens": 10, "output_tokens": 20.0},
            conversation_id="c1",
            turn=3,
            segment={"region": "eu"},
            timestamp="2025-12-31T23:59:00Z",
        ),
        now=NOW,
    )
    assert ev.deployment == "canary"
    assert ev.features == {"len": 12, "lang": "en", "vip": True, "x": None, "r": 0.5}
    assert (ev.input_tokens, ev.output_tokens, ev.turn) == (10, 20, 3)
    assert isinstance(ev.output_tokens, int)
    assert ev.latency_ms == 120.0 and isinstance(ev.latency_ms, float)
    assert ev.timestamp == NOW - 60
    assert ev.segment == {"region": "eu"}


def test_events_are_frozen() -> None:
    ev = validate_inference(inference(), now=NOW)
    with pytest.raises(AttributeError):
        ev.model = "other"  # type: ignore[misc]


@pytest.mark.parametrize("name", ["request_id", "timestamp", "model", "model_version"])
@pytest.mark.parametrize("how", ["absent", "null"])
def test_inference_required_fields(name: str, how: str) -> None:
    obj = inference()
    if how == "absent":
        del obj[name]
    else:
        obj[name] = None
    err = rejected(validate_inference, obj)
    assert (err.reason, err.field) == ("missing_field", name)
    assert str(err).startswith(f"{name}:")


@pytest.mark.parametrize("name", ["request_id", "timestamp"])
def test_feedback_required_fields(name: str) -> None:
    obj = feedback()
    del obj[name]
    err = rejected(validate_feedback, obj)
    assert (err.reason, err.field) == ("missing_field", name)


@pytest.mark.parametrize("name", ["request_id", "model", "model_version"])
@pytest.mark.parametrize("bad", [12, 1.5, True, ["a"], {"a": 1}])
def test_inference_string_fields_wrong_type(name: str, bad: Any) -> None:
    err = rejected(validate_inference, inference(**{name: bad}))
    assert (err.reason, err.field) == ("wrong_type", name)
    assert name in str(err) and type(bad).__name__ in str(err) and repr(bad)[:10] in str(err)


@pytest.mark.parametrize("name", ["request_id", "model", "model_version"])
def test_empty_strings(name: str) -> None:
    err = rejected(validate_inference, inference(**{name: ""}))
    assert (err.reason, err.field) == ("empty", name)


@pytest.mark.parametrize("name", ["request_id", "model", "model_version", "conversation_id"])
def test_id_length_limit(name: str) -> None:
    assert getattr(validate_inference(inference(**{name: "x" * MAX_ID_LENGTH}), now=NOW), name)
    err = rejected(validate_inference, inference(**{name: "x" * (MAX_ID_LENGTH + 1)}))
    assert (err.reason, err.field) == ("too_long", name)
    assert str(MAX_ID_LENGTH + 1) in str(err) and str(MAX_ID_LENGTH) in str(err)


def test_texts_may_be_long_but_not_unbounded() -> None:
    ev = validate_inference(inference(input_text="a" * 100_000), now=NOW)
    assert len(ev.input_text or "") == 100_000
    err = rejected(validate_inference, inference(output_text="a" * 1_000_001))
    assert (err.reason, err.field) == ("too_long", "output_text")


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_every_deployment_is_accepted(deployment: str) -> None:
    assert validate_inference(inference(deployment=deployment), now=NOW).deployment == deployment


@pytest.mark.parametrize("bad", ["prod", "Production", "staging", 3, True])
def test_bad_deployment(bad: Any) -> None:
    err = rejected(validate_inference, inference(deployment=bad))
    assert (err.reason, err.field) == ("bad_choice", "deployment")
    assert repr(bad) in str(err)
    for choice in DEPLOYMENTS:
        assert choice in str(err)


@pytest.mark.parametrize("bad", [[1], "yes", 3])
def test_features_must_be_an_object(bad: Any) -> None:
    err = rejected(validate_inference, inference(features=bad))
    assert (err.reason, err.field) == ("wrong_type", "features")
    assert type(bad).__name__ in str(err)


def test_feature_names_seen_before_do_not_let_a_bad_name_through() -> None:
    """Names that passed are not checked again; a bad name beside them still is."""
    good = {"age": 3, "plan": "pro"}
    assert validate_inference(inference(features=good), now=NOW).features == good
    err = rejected(validate_inference, inference(features={**good, "x" * (MAX_ID_LENGTH + 1): 1}))
    assert (err.reason, err.field) == ("too_long", "features")
    err = rejected(validate_inference, inference(features={**good, "bad\ud800": 1}))
    assert err.field.startswith("features.bad")
    err = rejected(validate_inference, inference(features={**good, "age": math.nan}))
    assert (err.reason, err.field) == ("not_finite", "features.age")  # values: every event


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_feature(bad: float) -> None:
    err = rejected(validate_inference, inference(features={"ok": 1, "score": bad}))
    assert (err.reason, err.field) == ("not_finite", "features.score")
    assert str(bad) in str(err) and "null" in str(err)


@pytest.mark.parametrize("bad", [[1, 2], {"a": 1}])
def test_nested_feature_is_wrong_type(bad: Any) -> None:
    err = rejected(validate_inference, inference(features={"nested": bad}))
    assert (err.reason, err.field) == ("wrong_type", "features.nested")
    assert type(bad).__name__ in str(err)


def test_long_string_feature() -> None:
    assert (
        validate_inference(inference(features={"s": "a" * 1024}), now=NOW).features["s"]
        == "a" * 1024
    )
    err = rejected(validate_inference, inference(features={"s": "a" * 1025}))
    assert (err.reason, err.field) == ("too_long", "features.s")
    assert "1025" in str(err)


def test_feature_count_limit() -> None:
    ok = {f"f{i}": i for i in range(MAX_FEATURES)}
    assert len(validate_inference(inference(features=ok), now=NOW).features) == MAX_FEATURES
    err = rejected(validate_inference, inference(features={**ok, "one_more": 1}))
    assert (err.reason, err.field) == ("too_many", "features")
    assert str(MAX_FEATURES + 1) in str(err) and str(MAX_FEATURES) in str(err)


@pytest.mark.parametrize("name", ["score", "latency_ms"])
@pytest.mark.parametrize("bad", ["12", True, [1]])
def test_number_fields_wrong_type(name: str, bad: Any) -> None:
    err = rejected(validate_inference, inference(**{name: bad}))
    assert (err.reason, err.field) == ("wrong_type", name)
    assert "number" in str(err)


@pytest.mark.parametrize("name", ["score", "latency_ms"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_number_fields_not_finite(name: str, bad: float) -> None:
    err = rejected(validate_inference, inference(**{name: bad}))
    assert (err.reason, err.field) == ("not_finite", name)


def test_negative_latency() -> None:
    assert validate_inference(inference(latency_ms=0), now=NOW).latency_ms == 0.0
    err = rejected(validate_inference, inference(latency_ms=-1.5))
    assert (err.reason, err.field) == ("out_of_range", "latency_ms")
    assert "-1.5" in str(err)


def test_score_has_no_range() -> None:
    assert validate_inference(inference(score=-1e9), now=NOW).score == -1e9


@pytest.mark.parametrize("name", ["input_tokens", "output_tokens"])
@pytest.mark.parametrize(
    "bad, reason",
    [
        (-1, "out_of_range"),
        (1.5, "wrong_type"),
        ("3", "wrong_type"),
        (True, "wrong_type"),
        (math.nan, "wrong_type"),
    ],
)
def test_usage_tokens(name: str, bad: Any, reason: str) -> None:
    err = rejected(validate_inference, inference(usage={name: bad}))
    assert (err.reason, err.field) == (reason, f"usage.{name}")


def test_usage_must_be_an_object() -> None:
    err = rejected(validate_inference, inference(usage=[1, 2]))
    assert (err.reason, err.field) == ("wrong_type", "usage")


@pytest.mark.parametrize(
    "bad, reason", [(-1, "out_of_range"), (2.5, "wrong_type"), ("1", "wrong_type")]
)
def test_turn(bad: Any, reason: str) -> None:
    err = rejected(validate_inference, inference(turn=bad))
    assert (err.reason, err.field) == (reason, "turn")


@pytest.mark.parametrize("bad", [1, None, "", ["a"]])
def test_segment_values_are_strings(bad: Any) -> None:
    err = rejected(validate_inference, inference(segment={"region": bad}))
    assert err.field == "segment.region"
    assert err.reason in ("wrong_type", "empty")


def test_segment_must_be_an_object() -> None:
    err = rejected(validate_inference, inference(segment="eu"))
    assert (err.reason, err.field) == ("wrong_type", "segment")


@pytest.mark.parametrize("good", ["yes", 1, 0.5, True])
def test_prediction_scalars(good: Any) -> None:
    assert validate_inference(inference(prediction=good), now=NOW).prediction == good


@pytest.mark.parametrize(
    "bad, reason", [(math.nan, "not_finite"), ([1], "wrong_type"), ({"a": 1}, "wrong_type")]
)
def test_bad_prediction(bad: Any, reason: str) -> None:
    err = rejected(validate_inference, inference(prediction=bad))
    assert (err.reason, err.field) == (reason, "prediction")


@pytest.mark.parametrize("bad", [[1], "s", 3, None])
def test_not_an_object(bad: Any) -> None:
    for validate in (validate_inference, validate_feedback):
        err = rejected(validate, bad)
        assert (err.reason, err.field) == ("not_an_object", "")
        assert type(bad).__name__ in str(err)


# --- time ------------------------------------------------------------------------------------


def test_future_skew_boundary() -> None:
    assert validate_inference(inference(timestamp=NOW + 300), now=NOW).timestamp == NOW + 300
    err = rejected(validate_inference, inference(timestamp=NOW + 301))
    assert (err.reason, err.field) == ("future_timestamp", "timestamp")
    # a worker's dead letter: docs/events.md names the worker clock (monitor replay its own)
    assert err.detail == "301 s ahead of the worker clock (at most 300 s)"


def test_custom_future_skew() -> None:
    assert (
        validate_feedback(feedback(timestamp=NOW + 3000), now=NOW, max_future_skew=3600).timestamp
        == NOW + 3000
    )
    err = rejected(validate_feedback, feedback(timestamp=NOW + 11), max_future_skew=10)
    assert err.reason == "future_timestamp"


def test_future_in_milliseconds_and_rfc3339() -> None:
    assert (
        rejected(validate_inference, inference(timestamp=(NOW + 3600) * 1000)).reason
        == "future_timestamp"
    )
    assert (
        rejected(validate_inference, inference(timestamp="2026-01-01T01:00:00Z")).reason
        == "future_timestamp"
    )


def test_old_events_are_accepted_back_to_the_floor() -> None:
    assert validate_feedback(feedback(timestamp=946_684_800), now=NOW).timestamp == 946_684_800.0
    err = rejected(validate_feedback, feedback(timestamp=946_684_799))
    assert (err.reason, err.field) == ("ancient_timestamp", "timestamp")
    assert err.detail.startswith("1999-12-31T23:59:59Z is before 2000-01-01T00:00:00Z")
    assert (
        validate_feedback(feedback(timestamp=1000), now=NOW, min_event_time=0).timestamp == 1000.0
    )


@pytest.mark.parametrize(
    "bad, reason",
    [
        (True, "wrong_type"),
        (math.nan, "not_finite"),
        ("soon", "bad_timestamp"),
        (-5, "out_of_range"),
        ([1], "wrong_type"),
    ],
)
def test_bad_timestamps(bad: Any, reason: str) -> None:
    err = rejected(validate_inference, inference(timestamp=bad))
    assert (err.reason, err.field) == (reason, "timestamp")


# --- feedback --------------------------------------------------------------------------------


def test_minimal_feedback_defaults() -> None:
    ev = validate_feedback(feedback(), now=NOW)
    assert ev == FeedbackEvent(request_id="r1", timestamp=NOW - 5)
    assert ev.rating is None and ev.thumbs is None and ev.model is None


def test_full_feedback() -> None:
    ev = validate_feedback(
        feedback(
            label="ok",
            rating=5.0,
            thumbs="down",
            task_completed=False,
            human_takeover=True,
            bad_case=False,
            turns=0,
            judge_score=10,
            model="m",
            model_version="v",
        ),
        now=NOW,
    )
    assert ev.rating == 5 and isinstance(ev.rating, int)
    assert ev.judge_score == 10.0 and ev.thumbs == "down" and ev.task_completed is False
    assert (
        ev.human_takeover is True and ev.turns == 0 and (ev.model, ev.model_version) == ("m", "v")
    )


@pytest.mark.parametrize("rating", [1, 2, 3, 4, 5])
def test_ratings_in_range(rating: int) -> None:
    assert validate_feedback(feedback(rating=rating), now=NOW).rating == rating


@pytest.mark.parametrize("bad", [0, 6, -1, 7, 100])
def test_rating_out_of_range(bad: int) -> None:
    err = rejected(validate_feedback, feedback(rating=bad))
    assert (err.reason, err.field) == ("out_of_range", "rating")
    assert str(err) == f"rating: {bad} is outside 1–5"


@pytest.mark.parametrize("bad", [4.5, "5", True, [5]])
def test_rating_wrong_type(bad: Any) -> None:
    err = rejected(validate_feedback, feedback(rating=bad))
    assert (err.reason, err.field) == ("wrong_type", "rating")
    assert "integer" in str(err)


@given(st.floats(min_value=0, max_value=10, allow_nan=False))
def test_judge_score_in_range(score: float) -> None:
    assert validate_feedback(feedback(judge_score=score), now=NOW).judge_score == score


@pytest.mark.parametrize("bad", [-0.01, 10.01, 11, -5])
def test_judge_score_out_of_range(bad: float) -> None:
    err = rejected(validate_feedback, feedback(judge_score=bad))
    assert (err.reason, err.field) == ("out_of_range", "judge_score")
    assert str(bad) in str(err) and "0–10" in str(err)


@pytest.mark.parametrize(
    "bad, reason",
    [
        (math.nan, "not_finite"),
        (math.inf, "not_finite"),
        ("7", "wrong_type"),
        (False, "wrong_type"),
    ],
)
def test_judge_score_bad(bad: Any, reason: str) -> None:
    err = rejected(validate_feedback, feedback(judge_score=bad))
    assert (err.reason, err.field) == (reason, "judge_score")


@pytest.mark.parametrize("bad", ["UP", "like", "", 1, True])
def test_thumbs_bad_choice(bad: Any) -> None:
    err = rejected(validate_feedback, feedback(thumbs=bad))
    assert (err.reason, err.field) == ("bad_choice", "thumbs")
    assert repr(bad) in str(err) and "up, down" in str(err)


@pytest.mark.parametrize("name", ["task_completed", "human_takeover", "bad_case"])
@pytest.mark.parametrize("bad", [1, 0, "true", "yes"])
def test_bool_fields_reject_truthy_values(name: str, bad: Any) -> None:
    err = rejected(validate_feedback, feedback(**{name: bad}))
    assert (err.reason, err.field) == ("wrong_type", name)
    assert repr(bad) in str(err)


def test_turns_negative() -> None:
    assert rejected(validate_feedback, feedback(turns=-1)).field == "turns"


@pytest.mark.parametrize("name", ["model", "model_version"])
def test_feedback_optional_strings(name: str) -> None:
    err = rejected(validate_feedback, feedback(**{name: 5}))
    assert (err.reason, err.field) == ("wrong_type", name)


def test_label_nan() -> None:
    err = rejected(validate_feedback, feedback(label=math.nan))
    assert (err.reason, err.field) == ("not_finite", "label")


# --- dispatch --------------------------------------------------------------------------------


def test_validate_event_dispatch() -> None:
    assert isinstance(validate_event("inference", inference(), now=NOW), InferenceEvent)
    assert isinstance(validate_event("feedback", feedback(), now=NOW), FeedbackEvent)
    with pytest.raises(InvalidEvent):
        validate_event("feedback", feedback(rating=9), now=NOW)
    with pytest.raises(InvalidEvent):
        validate_event("inference", inference(timestamp=NOW + 10), now=NOW, max_future_skew=5)


def test_validate_event_unknown_kind() -> None:
    with pytest.raises(ValueError, match="'metric'.*inference, feedback"):
        validate_event("metric", feedback(), now=NOW)


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-(10**6), 10**6),
            st.floats(-1e299, 1e299),
            st.text(max_size=20),
        ),
        max_size=20,
    )
)
def test_valid_features_are_kept_unchanged(features: dict[str, Any]) -> None:
    assert dict(validate_inference(inference(features=features), now=NOW).features) == features
