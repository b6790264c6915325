from __future__ import annotations

from typing import Any

import pytest

from monitor.contract.events import (
    FeedbackEvent,
    InferenceEvent,
    validate_feedback,
    validate_inference,
)
from monitor.contract.otel import (
    EVALUATION_EVENT,
    INFERENCE_EVENT,
    any_value,
    is_otel_event,
    otel_to_contract,
)
from monitor.errors import InvalidEvent

NOW = 1767225600.0
NANOS = "1767225590000000000"  # NOW - 10 s

INFERENCE_ATTRS: dict[str, Any] = {
    "gen_ai.response.id": "r1",
    "gen_ai.request.model": "gpt-x",
    "gen_ai.response.model": "gpt-x-2026-01",
    "gen_ai.conversation.id": "c1",
    "gen_ai.usage.input_tokens": 12,
    "gen_ai.usage.output_tokens": 34,
    "monitor.deployment": "shadow",
    "monitor.latency_ms": 250.5,
    "monitor.feature.prompt_chars": 80,
    "monitor.feature.language": "de",
    "monitor.segment.region": "eu",
    "server.address": "api.example.com",  # not in the contract: dropped
}


def otlp_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}  # OTLP/JSON encodes 64-bit ints as strings
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": value}


def flat(name: str, attrs: dict[str, Any], timestamp: Any = NOW - 10) -> dict[str, Any]:
    return {"name": name, "timestamp": timestamp, "attributes": attrs}


def otlp(name: str, attrs: dict[str, Any], nanos: str = NANOS) -> dict[str, Any]:
    return {
        "eventName": name,
        "timeUnixNano": nanos,
        "attributes": [{"key": k, "value": otlp_value(v)} for k, v in attrs.items()],
    }


@pytest.mark.parametrize("shape", [flat, otlp])
def test_inference_event(shape: Any) -> None:
    contract = otel_to_contract(shape(INFERENCE_EVENT, INFERENCE_ATTRS))
    assert contract == {
        "request_id": "r1",
        "timestamp": NOW - 10,
        "model": "gpt-x",
        "model_version": "gpt-x-2026-01",
        "deployment": "shadow",
        "latency_ms": 250.5,
        "conversation_id": "c1",
        "usage": {"input_tokens": 12, "output_tokens": 34},
        "features": {"prompt_chars": 80, "language": "de"},
        "segment": {"region": "eu"},
    }
    ev = validate_inference(contract, now=NOW)
    assert isinstance(ev, InferenceEvent)
    assert (ev.request_id, ev.model, ev.model_version, ev.deployment) == (
        "r1",
        "gpt-x",
        "gpt-x-2026-01",
        "shadow",
    )
    assert (ev.input_tokens, ev.output_tokens, ev.latency_ms) == (12, 34, 250.5)
    assert ev.features == {"prompt_chars": 80, "language": "de"}
    assert ev.segment == {"region": "eu"} and ev.conversation_id == "c1"
    assert ev.timestamp == pytest.approx(NOW - 10)


@pytest.mark.parametrize("shape", [flat, otlp])
def test_monitor_model_attributes_win(shape: Any) -> None:
    attrs = {**INFERENCE_ATTRS, "monitor.model": "assistant", "monitor.model_version": "v7"}
    contract = otel_to_contract(shape(INFERENCE_EVENT, attrs))
    assert (contract["model"], contract["model_version"]) == ("assistant", "v7")


def test_minimal_inference_drops_absent_fields() -> None:
    contract = otel_to_contract(
        flat(INFERENCE_EVENT, {"gen_ai.response.id": "r1", "gen_ai.request.model": "m"})
    )
    assert "deployment" not in contract and "latency_ms" not in contract
    assert "usage" not in contract and "features" not in contract  # absent, not empty
    err = pytest.raises(InvalidEvent, validate_inference, contract, now=NOW).value
    assert (err.reason, err.field) == ("missing_field", "model_version")
    ev = validate_inference({**contract, "model_version": "v"}, now=NOW)
    assert ev.deployment == "production"


def test_missing_response_id_is_rejected_by_the_contract() -> None:
    attrs = {k: v for k, v in INFERENCE_ATTRS.items() if k != "gen_ai.response.id"}
    err = pytest.raises(
        InvalidEvent, validate_inference, otel_to_contract(otlp(INFERENCE_EVENT, attrs)), now=NOW
    ).value
    assert (err.reason, err.field) == ("missing_field", "request_id")


@pytest.mark.parametrize("shape", [flat, otlp])
@pytest.mark.parametrize(
    "name, value, field, expected",
    [
        ("rating", 4, "rating", 4),
        ("judge_score", 7.5, "judge_score", 7.5),
        ("task_completed", True, "task_completed", True),
        ("human_takeover", False, "human_takeover", False),
        ("bad_case", True, "bad_case", True),
        ("turns", 3, "turns", 3),
        ("label", "resolved", "label", "resolved"),
        ("relevance", 0.75, "judge_score", 0.75),  # unknown evaluation names are judge scores
    ],
)
def test_evaluation_event(shape: Any, name: str, value: Any, field: str, expected: Any) -> None:
    attrs = {
        "gen_ai.response.id": "r1",
        "gen_ai.evaluation.name": name,
        "gen_ai.evaluation.score.value": value,
        "monitor.model": "m",
        "monitor.model_version": "v",
    }
    contract = otel_to_contract(shape(EVALUATION_EVENT, attrs))
    assert contract == {
        "request_id": "r1",
        "timestamp": NOW - 10,
        field: expected,
        "model": "m",
        "model_version": "v",
    }
    ev = validate_feedback(contract, now=NOW)
    assert isinstance(ev, FeedbackEvent)
    assert getattr(ev, field) == expected
    assert (ev.model, ev.model_version) == ("m", "v")


@pytest.mark.parametrize("shape", [flat, otlp])
def test_thumbs_come_from_the_label(shape: Any) -> None:
    attrs = {
        "gen_ai.response.id": "r1",
        "gen_ai.evaluation.name": "thumbs",
        "gen_ai.evaluation.score.value": 1,
        "gen_ai.evaluation.score.label": "down",
    }
    contract = otel_to_contract(shape(EVALUATION_EVENT, attrs))
    assert contract["thumbs"] == "down"
    assert validate_feedback(contract, now=NOW).thumbs == "down"


def test_label_used_when_there_is_no_score_value() -> None:
    attrs = {
        "gen_ai.response.id": "r1",
        "gen_ai.evaluation.name": "label",
        "gen_ai.evaluation.score.label": "ok",
    }
    assert otel_to_contract(flat(EVALUATION_EVENT, attrs))["label"] == "ok"


@pytest.mark.parametrize("shape", [flat, otlp])
def test_out_of_range_evaluation_is_rejected_by_the_contract(shape: Any) -> None:
    attrs = {
        "gen_ai.response.id": "r1",
        "gen_ai.evaluation.name": "rating",
        "gen_ai.evaluation.score.value": 9,
    }
    err = pytest.raises(
        InvalidEvent, validate_feedback, otel_to_contract(shape(EVALUATION_EVENT, attrs)), now=NOW
    ).value
    assert (err.reason, err.field) == ("out_of_range", "rating")


def test_otlp_int_values_become_ints() -> None:
    contract = otel_to_contract(otlp(INFERENCE_EVENT, INFERENCE_ATTRS))
    assert contract["usage"]["input_tokens"] == 12 and isinstance(
        contract["usage"]["input_tokens"], int
    )
    assert isinstance(contract["features"]["prompt_chars"], int)


def test_otlp_nanosecond_timestamp_precision() -> None:
    contract = otel_to_contract(
        otlp(EVALUATION_EVENT, {"gen_ai.response.id": "r"}, nanos="1767225590500000000")
    )
    assert contract["timestamp"] == pytest.approx(NOW - 9.5, abs=1e-6)


def test_unparseable_nanos_are_left_for_the_contract_to_reject() -> None:
    contract = otel_to_contract(otlp(EVALUATION_EVENT, {"gen_ai.response.id": "r"}, nanos="soon"))
    assert contract["timestamp"] == "soon"
    err = pytest.raises(InvalidEvent, validate_feedback, contract, now=NOW).value
    assert (err.reason, err.field) == ("bad_timestamp", "timestamp")


def test_flat_shape_with_event_name_key_and_rfc3339_time() -> None:
    obj = {
        "event.name": EVALUATION_EVENT,
        "timestamp": "2025-12-31T23:59:50Z",
        "attributes": {
            "gen_ai.response.id": "r1",
            "gen_ai.evaluation.name": "rating",
            "gen_ai.evaluation.score.value": 2,
        },
    }
    assert is_otel_event(obj)
    assert validate_feedback(otel_to_contract(obj), now=NOW).timestamp == NOW - 10


def test_otlp_array_and_kvlist_values_are_decoded_and_then_judged_by_the_contract() -> None:
    obj = otlp(EVALUATION_EVENT, {"gen_ai.response.id": "r1"})
    obj["attributes"].append(
        {
            "key": "gen_ai.evaluation.score.value",
            "value": {"arrayValue": {"values": [{"intValue": "3"}]}},
        }
    )
    assert otel_to_contract(obj)["judge_score"] == [3]
    with pytest.raises(InvalidEvent, match="judge_score"):
        validate_feedback(otel_to_contract(obj), now=NOW)
    assert (
        any_value({"kvlistValue": {"values": [{"key": "a", "value": {"doubleValue": "NaN"}}]}})["a"]
        != 0
    )


@pytest.mark.parametrize(
    "obj, expected",
    [
        ({"name": INFERENCE_EVENT}, True),
        ({"eventName": EVALUATION_EVENT}, True),
        ({"event.name": INFERENCE_EVENT}, True),
        ({"name": "gen_ai.other"}, False),
        ({"request_id": "r1", "timestamp": NOW}, False),
        ([{"name": INFERENCE_EVENT}], False),
        (INFERENCE_EVENT, False),
        (None, False),
    ],
)
def test_is_otel_event(obj: Any, expected: bool) -> None:
    assert is_otel_event(obj) is expected


def test_an_object_that_names_no_event_is_never_an_otel_event() -> None:
    """``names_no_event`` lets the decoder skip the OTel mapping: it must never skip a real one."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from monitor.contract.otel import INFERENCE_EVENT, names_no_event, otel_kind

    keys = st.sampled_from(["eventName", "name", "event.name", "attributes", "request_id", "x"])
    values = st.one_of(
        st.none(),
        st.sampled_from(["", INFERENCE_EVENT, "gen_ai.evaluation.result", "other"]),
        st.lists(
            st.fixed_dictionaries(
                {"key": st.just("event.name"), "value": st.just({"stringValue": INFERENCE_EVENT})}
            ),
            max_size=2,
        ),
        st.integers(),
    )

    @settings(max_examples=300, deadline=None)
    @given(st.dictionaries(keys, values, max_size=5))
    def check(obj: dict[str, Any]) -> None:
        if names_no_event(obj):
            assert otel_kind(obj) is None

    check()
    assert not names_no_event(
        {"attributes": [{"key": "event.name", "value": {"stringValue": INFERENCE_EVENT}}]}
    )
