from __future__ import annotations

import base64

import orjson
from hypothesis import given
from hypothesis import strategies as st

from monitor.contract.decode import Rejection, decode_message
from monitor.contract.dlq import dead_letter_key, dead_letter_record


def test_record_fields() -> None:
    rej = Rejection("out_of_range", "rating", "7 is outside 1–5", 2, b'{"rating": 7}')
    rec = orjson.loads(
        dead_letter_record("monitor.feedback", 3, 41, "feedback", rej, now=1767225600.5)
    )
    assert rec == {
        "reason": "out_of_range",
        "field": "rating",
        "error": "rating: 7 is outside 1–5",
        "kind": "feedback",
        "source": {"topic": "monitor.feedback", "partition": 3, "offset": 41, "index": 2},
        "rejected_at": 1767225600.5,
        "original": '{"rating": 7}',
        "original_base64": None,
        "original_bytes": 13,
        "original_truncated": False,
    }


def test_message_level_rejection_has_no_field_prefix() -> None:
    rej = Rejection("undecodable", "", "not JSON: oops", -1, b"{")
    rec = orjson.loads(dead_letter_record("t", 0, 0, "inference", rej, now=0))
    assert (
        rec["error"] == "not JSON: oops" and rec["source"]["index"] == -1 and rec["original"] == "{"
    )


def test_invalid_utf8_original_goes_to_base64() -> None:
    raw = b'{"request_id": "\xff\xfe"}'
    [rej] = decode_message(raw, "feedback", now=1767225600).rejections
    rec = orjson.loads(dead_letter_record("t", 1, 2, "feedback", rej, now=0))
    assert rec["original"] is None
    assert base64.b64decode(rec["original_base64"]) == raw
    assert rec["reason"] == "not_utf8"


@given(st.binary(max_size=200))
def test_original_bytes_are_always_recoverable(raw: bytes) -> None:
    rej = Rejection("undecodable", "", "x", -1, raw)
    rec = orjson.loads(dead_letter_record("t", 0, 0, "inference", rej, now=0))
    if rec["original"] is not None:
        assert rec["original_base64"] is None
        assert rec["original"].encode() == raw
    else:
        assert base64.b64decode(rec["original_base64"]) == raw


def test_batch_element_round_trips_through_the_dead_letter() -> None:
    raw = b'[{"request_id":"a","timestamp":1767225600},{"request_id":"b","timestamp":1767225600,"thumbs":"meh"}]'
    [rej] = decode_message(raw, "feedback", now=1767225600).rejections
    rec = orjson.loads(dead_letter_record("monitor.feedback", 0, 9, "feedback", rej, now=0))
    assert orjson.loads(rec["original"]) == {
        "request_id": "b",
        "timestamp": 1767225600,
        "thumbs": "meh",
    }
    assert (rec["field"], rec["source"]["index"]) == ("thumbs", 1)
    assert "'meh'" in rec["error"]


def test_key() -> None:
    assert dead_letter_key("monitor.inference", 2, 1234, -1) == b"monitor.inference/2/1234/-1"
    assert dead_letter_key("a", 0, 0, 3) != dead_letter_key("a", 0, 0, 4)
