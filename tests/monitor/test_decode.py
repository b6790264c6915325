from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.contract.decode import DEFAULT_MAX_MESSAGE_BYTES, decode_message
from monitor.contract.events import FeedbackEvent, InferenceEvent
from monitor.contract.otel import EVALUATION_EVENT

NOW = 1767225600.0


def inference(i: int = 0, **changes: Any) -> dict[str, Any]:
    return {
        "request_id": f"r{i}",
        "timestamp": NOW - i,
        "model": "m",
        "model_version": "v1",
        **changes,
    }


def test_single_object() -> None:
    out = decode_message(orjson.dumps(inference(3, features={"x": 1})), "inference", now=NOW)
    assert out.rejections == [] and out.indexes == [0]
    [ev] = out.events
    assert isinstance(ev, InferenceEvent)
    assert (ev.request_id, ev.timestamp, ev.features) == ("r3", NOW - 3, {"x": 1})


def test_single_bad_object_keeps_the_whole_message_as_original() -> None:
    raw = b'{"request_id": "r1", "timestamp": 1767225600, "rating": 7}'
    out = decode_message(raw, "feedback", now=NOW)
    assert out.events == []
    [rej] = out.rejections
    assert (rej.reason, rej.field, rej.index, rej.original) == ("out_of_range", "rating", 0, raw)
    assert rej.message == "rating: 7 is outside 1–5"


def test_batch_with_mixed_elements_rejects_only_the_bad_ones() -> None:
    batch = [
        inference(0),
        inference(1, model=5),
        inference(2),
        inference(3, deployment="prod"),
        inference(4),
        inference(5, features={"x": [1]}),
    ]
    out = decode_message(orjson.dumps(batch), "inference", now=NOW)
    assert [e.request_id for e in out.events] == ["r0", "r2", "r4"]
    assert out.indexes == [0, 2, 4]
    assert [(r.index, r.reason, r.field) for r in out.rejections] == [
        (1, "wrong_type", "model"),
        (3, "bad_choice", "deployment"),
        (5, "wrong_type", "features.x"),
    ]
    for rej in out.rejections:
        assert orjson.loads(rej.original) == batch[rej.index]


@pytest.mark.parametrize("raw", [b"{", b"not json", b'{"a": 1} trailing', b"[1, 2", b"\x00\x01"])
def test_undecodable_bytes(raw: bytes) -> None:
    out = decode_message(raw, "inference", now=NOW)
    assert out.events == []
    [rej] = out.rejections
    assert (rej.reason, rej.field, rej.index, rej.original) == ("undecodable", "", -1, raw)
    assert rej.detail.startswith("not JSON") and len(rej.detail) <= 300


def test_invalid_utf8() -> None:
    raw = b'{"request_id": "r\xff\xfe", "timestamp": 1767225600}'
    out = decode_message(raw, "feedback", now=NOW)
    [rej] = out.rejections
    assert (rej.reason, rej.index, rej.original) == ("not_utf8", -1, raw)
    assert rej.detail.startswith("byte 0xff at position 17 is not UTF-8")
    assert out.events == []


@pytest.mark.parametrize("raw", [b"", None])
def test_empty_message(raw: bytes | None) -> None:
    out = decode_message(raw, "inference", now=NOW)
    assert out.events == []
    [rej] = out.rejections
    assert (rej.reason, rej.index, rej.original) == ("undecodable", -1, b"")


def test_empty_batch_is_no_events_and_no_rejections() -> None:
    out = decode_message(b"[]", "inference", now=NOW)
    assert out.events == [] and out.rejections == []


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_literal_rejects_only_its_element(literal: bytes) -> None:
    raw = (
        b'[{"request_id":"a","timestamp":1767225600,"model":"m","model_version":"v","features":{"x":1}},'
        b'{"request_id":"b","timestamp":1767225600,"model":"m","model_version":"v","features":{"x":'
        + literal
        + b"}},"
        b'{"request_id":"c","timestamp":1767225600,"model":"m","model_version":"v","latency_ms":3}]'
    )
    out = decode_message(raw, "inference", now=NOW)
    assert [e.request_id for e in out.events] == ["a", "c"]
    assert out.indexes == [0, 2]
    [rej] = out.rejections
    assert (rej.reason, rej.field, rej.index) == ("not_finite", "features.x", 1)
    assert json.loads(rej.original)["request_id"] == "b"


def test_nan_in_single_object_keeps_original_bytes() -> None:
    raw = b'{"request_id":"a","timestamp":1767225600,"judge_score":NaN}'
    [rej] = decode_message(raw, "feedback", now=NOW).rejections
    assert (rej.reason, rej.field, rej.original) == ("not_finite", "judge_score", raw)


def test_oversized() -> None:
    raw = orjson.dumps(inference(input_text="x" * 2000))
    out = decode_message(raw, "inference", now=NOW, max_bytes=len(raw) - 1)
    [rej] = out.rejections
    assert (rej.reason, rej.index, rej.original) == ("oversized", -1, raw)
    assert str(len(raw)) in rej.detail and str(len(raw) - 1) in rej.detail
    assert out.events == []
    assert len(decode_message(raw, "inference", now=NOW, max_bytes=len(raw)).events) == 1


def test_default_size_limit() -> None:
    raw = b'"' + b"x" * DEFAULT_MAX_MESSAGE_BYTES + b'"'
    assert decode_message(raw, "inference", now=NOW).rejections[0].reason == "oversized"


@pytest.mark.parametrize("element", [1, "text", None, [1, 2], True])
def test_non_object_elements(element: Any) -> None:
    batch = [inference(0), element, inference(2)]
    out = decode_message(orjson.dumps(batch), "inference", now=NOW)
    assert out.indexes == [0, 2]
    [rej] = out.rejections
    assert (rej.reason, rej.field, rej.index) == ("not_an_object", "", 1)
    assert orjson.loads(rej.original) == element


@pytest.mark.parametrize("payload", [b"42", b'"hello"', b"null", b"true"])
def test_non_object_message(payload: bytes) -> None:
    [rej] = decode_message(payload, "feedback", now=NOW).rejections
    assert (rej.reason, rej.index, rej.original) == ("not_an_object", 0, payload)


def test_future_skew_is_passed_through() -> None:
    raw = orjson.dumps({"request_id": "a", "timestamp": NOW + 100})
    assert (
        decode_message(raw, "feedback", now=NOW, max_future_skew=60).rejections[0].reason
        == "future_timestamp"
    )
    assert len(decode_message(raw, "feedback", now=NOW, max_future_skew=200).events) == 1


def test_otel_elements_are_mapped() -> None:
    otel = {
        "name": EVALUATION_EVENT,
        "timestamp": NOW - 1,
        "attributes": {
            "gen_ai.response.id": "r9",
            "gen_ai.evaluation.name": "rating",
            "gen_ai.evaluation.score.value": 5,
        },
    }
    plain = {"request_id": "r8", "timestamp": NOW - 2, "thumbs": "up"}
    out = decode_message(orjson.dumps([plain, otel]), "feedback", now=NOW)
    assert out.rejections == []
    assert [(e.request_id, e.rating, e.thumbs) for e in out.events] == [
        ("r8", None, "up"),
        ("r9", 5, None),
    ]
    assert all(isinstance(e, FeedbackEvent) for e in out.events)


good_or_bad = st.one_of(
    st.builds(lambda i: inference(i), st.integers(0, 1000)),
    st.builds(lambda i, m: inference(i, model=m), st.integers(0, 1000), st.integers()),
    st.builds(
        lambda i, d: inference(i, deployment=d),
        st.integers(0, 1000),
        st.sampled_from(["x", "prod"]),
    ),
    st.builds(
        lambda i, t: inference(i, latency_ms=t), st.integers(0, 1000), st.floats(-1e6, -0.001)
    ),
    st.integers(),
    st.text(max_size=5),
)


@settings(max_examples=60)
@given(st.lists(good_or_bad, max_size=12))
def test_batch_partitions_elements_into_events_and_rejections(batch: list[Any]) -> None:
    out = decode_message(
        json.dumps(batch).encode(), "inference", now=NOW
    )  # ints may exceed 64 bits
    rejected = [r.index for r in out.rejections]
    assert sorted(out.indexes + rejected) == list(range(len(batch)))
    assert len(out.events) == len(out.indexes)
    for index, ev in zip(out.indexes, out.events):
        assert ev.request_id == batch[index]["request_id"]
    for rej in out.rejections:
        assert json.loads(rej.original) == batch[rej.index]
        again = decode_message(rej.original, "inference", now=NOW)
        assert again.events == [] and again.rejections[0].reason == rej.reason


def _kv(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}  # OTLP/JSON spells int64 as a string
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def _record(event_name: str, nanos: int, **attributes: Any) -> dict[str, Any]:
    return {
        "timeUnixNano": str(nanos),
        "observedTimeUnixNano": str(nanos),
        "severityNumber": 9,
        "eventName": event_name,
        "body": {"stringValue": ""},
        "attributes": [_kv(k, v) for k, v in attributes.items()],
    }


def otlp_envelope(*records: dict[str, Any]) -> bytes:
    """An OTLP/JSON logs export as the Collector's Kafka exporter writes it (encoding: otlp_json)."""
    return json.dumps(
        {
            "resourceLogs": [
                {
                    "resource": {"attributes": [_kv("service.name", "support-assistant")]},
                    "scopeLogs": [
                        {
                            "scope": {"name": "opentelemetry.instrumentation.genai"},
                            "logRecords": list(records),
                        }
                    ],
                }
            ]
        }
    ).encode()


def test_an_otlp_envelope_is_one_event_per_genai_log_record_with_dead_letters_per_record() -> None:
    nanos = 1_767_225_600 * 10**9 + 250_000_000
    raw = otlp_envelope(
        _record(
            "gen_ai.client.inference.operation.details",
            nanos,
            **{
                "gen_ai.response.id": "r1",
                "gen_ai.request.model": "chat",
                "gen_ai.response.model": "chat-2026-01",
                "gen_ai.usage.input_tokens": 12,
                "gen_ai.usage.output_tokens": 40,
                "monitor.latency_ms": 812.5,
                "monitor.feature.language": "de",
                "monitor.segment.tenant": "acme",
                "monitor.turn": 2,
            },
        ),
        _record(
            "gen_ai.evaluation.result",
            nanos,
            **{
                "gen_ai.response.id": "r1",
                "gen_ai.evaluation.name": "rating",
                "gen_ai.evaluation.score.value": 4,
            },
        ),
        _record("app.started", nanos, pid=7),
        _record("gen_ai.client.inference.operation.details", nanos, **{"gen_ai.response.id": "r2"}),
    )
    out = decode_message(raw, "inference", now=1_767_225_601)
    (event,) = out.events
    assert out.indexes == [0]
    assert (event.request_id, event.timestamp, event.model, event.model_version) == (
        "r1",
        1767225600.25,
        "chat",
        "chat-2026-01",
    )
    assert (event.input_tokens, event.output_tokens, event.latency_ms, event.turn) == (
        12,
        40,
        812.5,
        2,
    )
    assert event.features == {"language": "de"} and event.segment == {"tenant": "acme"}
    assert [(r.index, r.reason, r.field) for r in out.rejections] == [
        (1, "wrong_kind", "eventName"),
        (2, "unsupported_event", "eventName"),
        (3, "missing_field", "model"),
    ]
    assert (
        json.loads(out.rejections[1].original)["eventName"] == "app.started"
    )  # the record, not the envelope
    feedback = decode_message(raw, "feedback", now=1_767_225_601)
    assert [(e.request_id, e.rating) for e in feedback.events] == [("r1", 4)]


@pytest.mark.parametrize(
    ("name", "topic", "detail"),
    [
        (
            "gen_ai.client.inference.operation.details",
            "feedback",
            "gen_ai.client.inference.operation.details is an inference event, sent as feedback",
        ),
        (
            "gen_ai.evaluation.result",
            "inference",
            "gen_ai.evaluation.result is a feedback event, sent as inference",
        ),
    ],
)
def test_an_otel_event_of_the_other_kind_says_which_kind_it_is(name, topic, detail) -> None:
    """Before: '... is a inference event, sent as feedback'."""
    raw = otlp_envelope(_record(name, 1_767_225_600 * 10**9, **{"gen_ai.response.id": "r1"}))
    (rejection,) = decode_message(raw, topic, now=NOW).rejections
    assert (rejection.reason, rejection.detail) == ("wrong_kind", detail)


def test_a_malformed_envelope_is_one_rejection() -> None:
    out = decode_message(
        b'{"resourceLogs": [{"scopeLogs": {"logRecords": []}}]}', "inference", now=NOW
    )
    assert out.events == [] and [(r.reason, r.index) for r in out.rejections] == [("bad_otel", -1)]
    bad_value = otlp_envelope(
        {
            "eventName": "gen_ai.evaluation.result",
            "timeUnixNano": "1",
            "attributes": [{"key": "gen_ai.response.id", "value": "r1"}],
        }
    )
    assert [r.reason for r in decode_message(bad_value, "feedback", now=NOW).rejections] == [
        "bad_otel"
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "eventName",
                    "attributes",
                    "key",
                    "value",
                    "logRecords",
                    "scopeLogs",
                    "resourceLogs",
                    "timeUnixNano",
                    "stringValue",
                    "intValue",
                    "x",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_envelope_shaped_json_is_decoded_or_rejected_never_raised(body) -> None:
    raw = json.dumps({"resourceLogs": body}).encode()
    for kind in ("inference", "feedback"):
        out = decode_message(raw, kind, now=NOW)
        assert len(out.events) == len(out.objects) == len(out.indexes)
        assert all(r.reason for r in out.rejections)
