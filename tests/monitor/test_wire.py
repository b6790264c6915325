"""The native decoder (monitor.contract.wire) gives exactly the events of the exact path for every
message it takes, takes the usual valid message, and leaves every other one to the exact path."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.contract.decode import decode_message
from monitor.contract.events import FeedbackEvent, InferenceEvent
from monitor.contract.fields import contract_fields
from monitor.contract.wire import decode_native

NOW = 1_767_225_600.0
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [1e300, -1e300, 1e299, 5.0, 0.0, -0.5, 3, 6, 10.5, 2**63, 2**63 - 1, 2**64 - 1]
    ),
    st.sampled_from([3.0, -1, 1, 5, 11, 1e-300, 123456789012345678901234567890]),
    st.text(max_size=5),
    st.text(min_size=250, max_size=260),
    st.sampled_from(["", "\ud800", "ü", "😀", "production", "shadow", "up", "down", "x" * 1025]),
)
VALUES = st.one_of(
    SCALARS,
    st.dictionaries(st.one_of(st.text(max_size=3), st.just("")), SCALARS, max_size=3),
    st.lists(SCALARS, max_size=2),
)
TIMES = st.one_of(
    st.floats(NOW - 400, NOW + 400),
    st.integers(int(NOW - 400) * 1000, int(NOW + 400) * 1000),
    st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01 00:01:00+01:00", "2026-02-30T00:00:00Z"]),
    st.sampled_from([0, -1, 1e11, 99999999999, 946684799.0, True, None, "yesterday"]),
)
OTEL = st.fixed_dictionaries(
    {},
    optional={
        "eventName": st.sampled_from([None, "gen_ai.client.inference.operation.details", 3]),
        "name": st.sampled_from([None, "x"]),
        "event.name": st.sampled_from([None, "x"]),
        "attributes": st.sampled_from([None, [], {}]),
        "resourceLogs": st.sampled_from([None, []]),
        "unknown": VALUES,
    },
)


def _valid(kind: str) -> st.SearchStrategy[Any]:
    """Values of a field kind that are usually valid, at the edges of what is."""
    names = st.text(max_size=4)
    return {
        "id": st.text(min_size=1, max_size=8),
        "text": st.text(min_size=1, max_size=8),
        "choice": st.sampled_from([None, "production", "shadow", "canary", "up", "down"]),
        "answer": st.one_of(
            st.text(max_size=4), st.integers(-(2**63), 2**63 - 1), st.floats(-1e6, 1e6)
        ),
        "number": st.one_of(st.floats(-1e299, 1e299), st.integers(-(2**70), 2**70)),
        "integer": st.integers(0, 2**63 - 1),
        "boolean": st.booleans(),
        "features": st.dictionaries(names, SCALARS, max_size=4),
        "segment": st.dictionaries(names, st.text(min_size=1, max_size=4), max_size=3),
        "kpi": st.dictionaries(st.text(min_size=1, max_size=4), st.floats(-1e6, 1e6), max_size=3),
    }.get(kind, SCALARS)


def _record(
    record: type, required: dict[str, Any], wild: bool
) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with every contract field drawn from usually valid values, and arbitrary ones when ``wild``."""
    optional: dict[str, Any] = {}
    for name, spec in contract_fields(record):
        if name in required or spec.path:
            continue
        optional[name] = st.one_of(_valid(spec.kind), VALUES) if wild else _valid(spec.kind)
    tokens = VALUES if wild else _valid("integer")
    optional["usage"] = st.fixed_dictionaries(
        {}, optional={"input_tokens": tokens, "output_tokens": tokens}
    )
    if wild:
        optional["usage"] = st.one_of(optional["usage"], VALUES)
    return st.builds(
        lambda obj, extra: {**obj, **extra},
        st.fixed_dictionaries(required, optional=optional),
        OTEL if wild else st.just({}),
    )


def _ids(valid: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(valid), st.text(min_size=1, max_size=8), VALUES)


def _inference(wild: bool) -> st.SearchStrategy[dict[str, Any]]:
    ids = _ids if wild else st.just
    required = {
        "request_id": ids("r1"),
        "timestamp": TIMES,
        "model": ids("m"),
        "model_version": ids("v1"),
    }
    return _record(InferenceEvent, required, wild)


def _feedback(wild: bool) -> st.SearchStrategy[dict[str, Any]]:
    return _record(
        FeedbackEvent, {"request_id": (_ids if wild else st.just)("r1"), "timestamp": TIMES}, wild
    )


INFERENCE = st.one_of(_inference(wild=False), _inference(wild=True))
FEEDBACK = st.one_of(_feedback(wild=False), _feedback(wild=True))


def _encodings(value: Any) -> list[bytes]:
    """The same value as producers write it: compact UTF-8, escaped ASCII, stdlib with NaN literals."""
    out = [json.dumps(value, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")]
    out.append(json.dumps(value, allow_nan=True).encode())
    try:
        out.append(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        pass
    return out


def _events(raw: bytes, kind: str, objects: bool) -> list[str]:
    decoded = decode_message(raw, kind, now=NOW, min_event_time=946_684_800.0, objects=objects)
    # repr tells 1, 1.0 and True apart, which == does not
    return [repr(e) for e in decoded.events] + [repr(r) for r in decoded.rejections]


def _same_either_way(raw: bytes, kind: str) -> bool:
    native = decode_native(raw, kind, now=NOW, max_future_skew=300.0, min_event_time=946_684_800.0)
    assert _events(raw, kind, objects=False) == _events(raw, kind, objects=True)
    if native is not None:
        assert [repr(e) for e in native] == _events(raw, kind, objects=True)
    return native is not None


@settings(max_examples=600, deadline=None)
@given(st.one_of(INFERENCE, st.lists(INFERENCE, max_size=4)))
@example({"request_id": "\ud800", "timestamp": NOW, "model": "m", "model_version": "v1"})
def test_inference_messages_decode_the_same_either_way(value: Any) -> None:
    for raw in _encodings(value):
        _same_either_way(raw, "inference")


@settings(max_examples=400, deadline=None)
@given(st.one_of(FEEDBACK, st.lists(FEEDBACK, max_size=4)))
def test_feedback_messages_decode_the_same_either_way(value: Any) -> None:
    for raw in _encodings(value):
        _same_either_way(raw, "feedback")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_the_same_either_way(raw: bytes) -> None:
    _same_either_way(raw, "inference")


VALID = {
    "request_id": "r1",
    "timestamp": NOW - 5,
    "model": "m",
    "model_version": "v1",
    "deployment": "canary",
    "features": {"chars": 12, "lang": "de", "vip": False, "score": 0.5, "gone": None, "": 1},
    "input_text": "Grüße 😀",
    "prediction": 3,
    "latency_ms": 12,
    "usage": {"input_tokens": 7, "output_tokens": 9},
    "segment": {"tenant": "acme"},
    "extra": {"nested": [1, {"deep": True}]},
}


@pytest.mark.parametrize(
    "value",
    [
        VALID,
        [VALID, {**VALID, "timestamp": int(NOW * 1000)}],
        [{**VALID, "timestamp": "2026-01-01T00:00:00Z", "deployment": None}],
        [VALID] * 100,
    ],
)
def test_the_usual_valid_message_is_taken_natively(value: Any) -> None:
    for raw in _encodings(value):
        assert _same_either_way(raw, "inference")


@pytest.mark.parametrize(
    "change",
    [
        {"model": ""},
        {"timestamp": NOW + 3600},
        {"features": {"x": 2**64}},
        {"prediction": 1e300},
        {"usage": {"input_tokens": -1}},
        {"input_text": "\ud800"},
        {"eventName": "gen_ai.client.inference.operation.details"},
        {"attributes": []},
        {"deployment": "blue"},
        {"turn": 2.0},
    ],
)
def test_anything_else_is_left_to_the_exact_path(change: dict[str, Any]) -> None:
    raw = json.dumps([VALID, {**VALID, **change}]).encode()
    assert not _same_either_way(raw, "inference")


def test_an_envelope_is_left_to_the_exact_path() -> None:
    raw = json.dumps({**VALID, "resourceLogs": []}).encode()
    assert not _same_either_way(raw, "inference")


UNKNOWN_VALUE = st.one_of(
    st.binary(max_size=12),
    st.lists(
        st.sampled_from(
            [
                b'"',
                b"\\",
                b"\\u",
                b"d800",
                b"\xff",
                b"\xed\xa0\x80",
                b"\x01",
                b"1",
                b"0",
                b".",
                b"e",
                b"-",
                b"+",
                b"[",
                b"]",
                b"{",
                b"}",
                b",",
                b":",
                b"null",
                b"tru",
                b"NaN",
                b"Infinity",
                b" ",
            ]
        ),
        max_size=8,
    ).map(b"".join),
)


@settings(max_examples=500, deadline=None)
@given(UNKNOWN_VALUE, st.sampled_from([b"x", b"features", b"usage", b"segment"]))
def test_bytes_in_a_field_the_contract_may_skip_decode_the_same_either_way(value, key):
    """msgspec skips unknown fields: what it skips must not let through what the exact path rejects."""
    raw = b'[{"request_id":"r","timestamp":1767225600,"model":"m","model_version":"v","' + key
    _same_either_way(raw + b'":' + value + b"}]", "inference")


@pytest.mark.parametrize("value", [b'"\xff\xfe"', b'{"\xff": 1}', b'"\xed\xa0\x80"'])
def test_invalid_utf8_anywhere_is_left_to_the_exact_path(value):
    raw = (
        b'{"request_id":"r","timestamp":1767225600,"model":"m","model_version":"v","x":'
        + value
        + b"}"
    )
    assert not _same_either_way(raw, "inference")
