"""What the store and the encoders cannot hold is rejected at validation, with a precise reason."""

from __future__ import annotations

import json

import orjson
import pytest

from monitor.contract.decode import MAX_EVENTS_PER_MESSAGE, decode_message
from monitor.contract.dlq import dead_letter_record

NOW = 1767225600.0


def inference(**changes: object) -> dict:
    return {
        "request_id": "r1",
        "timestamp": NOW - 5,
        "model": "m",
        "model_version": "v1",
        **changes,
    }


def one_rejection(raw: bytes, kind: str = "inference") -> tuple[str, str, str]:
    out = decode_message(raw, kind, now=NOW)
    assert out.events == [] and len(out.rejections) == 1, out
    rej = out.rejections[0]
    return rej.reason, rej.field, rej.detail


@pytest.mark.parametrize(
    "obj, kind, reason, field",
    [
        (
            inference(usage={"input_tokens": 2**63}),
            "inference",
            "out_of_range",
            "usage.input_tokens",
        ),
        (inference(turn=2**70), "inference", "out_of_range", "turn"),
        (inference(features={"n": 2**64}), "inference", "out_of_range", "features.n"),
        (inference(features={"n": -(2**63) - 1}), "inference", "out_of_range", "features.n"),
        (inference(features={"n": 1e301}), "inference", "out_of_range", "features.n"),
        (inference(prediction=2**64), "inference", "out_of_range", "prediction"),
        (inference(latency_ms=1e305), "inference", "out_of_range", "latency_ms"),
        (
            {"request_id": "f", "timestamp": NOW, "turns": 2**64},
            "feedback",
            "out_of_range",
            "turns",
        ),
        (
            {"request_id": "f", "timestamp": NOW, "label": -(2**64)},
            "feedback",
            "out_of_range",
            "label",
        ),
    ],
)
def test_integers_beyond_64_bits_and_huge_numbers(
    obj: dict, kind: str, reason: str, field: str
) -> None:
    # stdlib json keeps big integers exact (orjson would turn them into floats first)
    assert one_rejection(json.dumps(obj).encode(), kind)[:2] == (reason, field)


def test_the_64_bit_limits_themselves_are_accepted() -> None:
    obj = inference(features={"lo": -(2**63), "hi": 2**64 - 1}, usage={"output_tokens": 2**63 - 1})
    out = decode_message(json.dumps(obj).encode(), "inference", now=NOW)
    assert out.rejections == [] and out.events[0].features["hi"] == 2**64 - 1


@pytest.mark.parametrize(
    "escaped, field",
    [
        (
            b'{"request_id": "r\\ud800", "timestamp": 1767225595, "model": "m", "model_version": "v"}',
            "request_id",
        ),
        (
            b'{"request_id": "r", "timestamp": 1767225595, "model": "\\udfff", "model_version": "v"}',
            "model",
        ),
        (
            (
                b'{"request_id": "r", "timestamp": 1767225595, "model": "m", "model_version": "v", '
                b'"features": {"lang": "e\\ud83d"}}'
            ),
            "features.lang",
        ),
        (
            (
                b'{"request_id": "r", "timestamp": 1767225595, "model": "m", "model_version": "v", '
                b'"features": {"\\ud800x": 1}}'
            ),
            "features.\\ud800x",
        ),
        (
            (
                b'{"request_id": "r", "timestamp": 1767225595, "model": "m", "model_version": "v", '
                b'"segment": {"region": "\\udc00"}}'
            ),
            "segment.region",
        ),
        (
            (
                b'{"request_id": "r", "timestamp": 1767225595, "model": "m", "model_version": "v", '
                b'"input_text": "hi \\ud800 there"}'
            ),
            "input_text",
        ),
        (
            b'[{"request_id": "r", "timestamp": 1767225595, "model": "m", "model_version": "v", "prediction": "\\ud800"}]',
            "prediction",
        ),
    ],
)
def test_lone_surrogates_from_json_escapes(escaped: bytes, field: str) -> None:
    reason, got_field, detail = one_rejection(escaped)
    assert (reason, got_field) == ("not_utf8", field)
    assert "lone surrogate U+D" in detail
    got_field.encode("utf-8")  # the field path itself always encodes


def test_a_paired_surrogate_escape_is_a_valid_character() -> None:
    raw = b'{"request_id": "r", "timestamp": 1767225595, "model": "\\ud83d\\ude00", "model_version": "v"}'
    assert decode_message(raw, "inference", now=NOW).events[0].model == "\N{GRINNING FACE}"


def test_invalid_utf8_bytes_name_the_byte() -> None:
    raw = (
        b'{"request_id": "r", "timestamp": 1767225595, "model": "m\xc3\x28", "model_version": "v"}'
    )
    reason, field, detail = one_rejection(raw)
    assert (reason, field) == ("not_utf8", "")
    assert detail.startswith("byte 0xc3 at position 56 is not UTF-8")


def test_utf16_is_not_guessed() -> None:
    raw = json.dumps(inference()).encode("utf-16")
    assert one_rejection(raw)[0] == "not_utf8"


@pytest.mark.parametrize(
    "obj, field",
    [
        (inference(model="m" * 257), "model"),
        (inference(model_version="v" * 257), "model_version"),
        (inference(request_id="r" * 257), "request_id"),
        (inference(features={"f" * 257: 1}), "features"),
        (inference(segment={"k" * 257: "x"}), "segment"),
        (inference(segment={"region": "x" * 257}), "segment.region"),
        (inference(prediction="p" * 1025), "prediction"),
    ],
)
def test_names_and_values_above_their_length_limit(obj: dict, field: str) -> None:
    assert one_rejection(orjson.dumps(obj))[:2] == ("too_long", field)


def test_ancient_and_zero_timestamps() -> None:
    for value in (0.5, 1, 86_400, "1999-12-31T23:59:59Z", 946_684_799_000):
        reason, field, detail = one_rejection(orjson.dumps(inference(timestamp=value)))
        assert (reason, field) == ("ancient_timestamp", "timestamp"), value
        assert "before 2000-01-01T00:00:00Z" in detail


def test_deeply_nested_json_is_one_rejection() -> None:
    raw = b'{"request_id": "r", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert one_rejection(raw)[0] == "too_deep"


def test_nesting_within_the_limit_is_an_ordinary_wrong_type() -> None:
    raw = orjson.dumps(inference(features={"f": [[[[1]]]]}))
    assert one_rejection(raw)[:2] == ("wrong_type", "features.f")


def test_a_huge_array_is_one_rejection_not_thousands() -> None:
    raw = b"[" + b",".join([b"1"] * (MAX_EVENTS_PER_MESSAGE + 1)) + b"]"
    reason, _, detail = one_rejection(raw)
    assert reason == "too_many_events" and str(MAX_EVENTS_PER_MESSAGE) in detail


def test_too_many_segment_keys() -> None:
    obj = inference(segment={f"k{i}": "v" for i in range(65)})
    assert one_rejection(orjson.dumps(obj))[:2] == ("too_many", "segment")


@pytest.mark.parametrize("nanos", ['"1e400"', '"' + "9" * 400 + '"', "1e999", "NaN"])
def test_otel_times_beyond_a_float_are_rejections(nanos: str) -> None:
    raw = (
        b'{"eventName": "gen_ai.evaluation.result", "timeUnixNano": '
        + nanos.encode()
        + b', "attributes": {"gen_ai.response.id": "r1"}}'
    )
    out = decode_message(raw, "feedback", now=NOW)
    assert out.events == [] and len(out.rejections) == 1


def test_otel_int_value_beyond_64_bits() -> None:
    raw = orjson.dumps(
        {
            "eventName": "gen_ai.evaluation.result",
            "timeUnixNano": "1767225600000000000",
            "attributes": [
                {"key": "gen_ai.response.id", "value": {"stringValue": "r"}},
                {"key": "gen_ai.evaluation.name", "value": {"stringValue": "turns"}},
                {"key": "gen_ai.evaluation.score.value", "value": {"intValue": str(2**64)}},
            ],
        }
    )
    assert one_rejection(raw, "feedback")[:2] == ("out_of_range", "turns")


def test_dead_letter_of_a_lone_surrogate_element_encodes_and_replays() -> None:
    raw = (
        b'[{"request_id": "ok", "timestamp": 1767225595, "model": "m", "model_version": "v"},'
        b' {"request_id": "r", "timestamp": 1767225595, "model": "m\\ud800", "model_version": "v"}]'
    )
    out = decode_message(raw, "inference", now=NOW)
    [rej] = out.rejections
    record = orjson.loads(dead_letter_record("t", 0, 1, "inference", rej, now=NOW))
    assert record["reason"] == "not_utf8" and record["source"]["index"] == 1
    again = decode_message(record["original"].encode(), "inference", now=NOW)
    assert again.rejections[0].reason == "not_utf8"


def test_a_dead_letter_record_always_encodes() -> None:
    from monitor.contract.decode import Rejection

    rej = Rejection("internal_error", "features.\ud800", "raised ValueError: '\udfff'", -1, b"\xff")
    record = orjson.loads(dead_letter_record("t", 0, 1, "inference", rej, now=NOW))
    assert record["field"] == "features.\\ud800" and record["original_base64"] == "/w=="


def test_an_element_nested_too_deep_to_write_again_keeps_the_whole_message_as_original() -> None:
    raw = (
        b"[" * 1000 + b"]" * 1000
    )  # orjson reads it (limit 1024), the stdlib cannot write it again
    [rej] = decode_message(raw, "inference", now=NOW).rejections
    assert (rej.reason, rej.index, rej.original) == ("not_an_object", 0, raw)
