"""Dead-letter records: the original bytes, a precise reason, and where the input came from.

>>> from monitor.contract.decode import Rejection
>>> rec = dead_letter_record("monitor.feedback", 2, 41, "feedback",
...                          Rejection("out_of_range", "rating", "7 is outside 1–5", 0, b'{"rating": 7}'), now=0)
>>> orjson.loads(rec)["error"], orjson.loads(rec)["original_truncated"]
('rating: 7 is outside 1–5', False)

A record stays within :data:`~monitor.contract.fields.MAX_RECORD_BYTES` (a larger one could never
be delivered, and its batch would wait for it for ever): a larger original is cut short, and its
size and source position say where to read it whole.

>>> big = dead_letter_record("monitor.inference", 0, 7, "inference",
...                          Rejection("undecodable", "", "not JSON", -1, b"\x01" * 2_000_000), now=0)
>>> record = orjson.loads(big)
>>> len(big) <= MAX_RECORD_BYTES, record["original_truncated"], record["original_bytes"]
(True, True, 2000000)
"""

from __future__ import annotations

import base64

import orjson

from monitor.contract.decode import Rejection
from monitor.contract.events import KINDS
from monitor.contract.fields import MAX_RECORD_BYTES

__all__ = [
    "DEAD_LETTER_KINDS",
    "JUDGE_KIND",
    "dead_letter_key",
    "dead_letter_record",
]

JUDGE_KIND = "judge"  # a message of the judge topic that the judge could not read
DEAD_LETTER_KINDS = (*KINDS, JUDGE_KIND)


def dead_letter_key(topic: str, partition: int, offset: int, index: int) -> bytes:
    return f"{topic}/{partition}/{offset}/{index}".encode()


def _text(value: str) -> str:
    """``value`` with any lone surrogate escaped: a dead-letter record always encodes."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def dead_letter_record(
    topic: str, partition: int, offset: int, kind: str, rejection: Rejection, now: float
) -> bytes:
    """JSON bytes for the dead-letter topic; ``original`` is text when it is UTF-8, base64 otherwise,
    cut short when the record would exceed :data:`MAX_RECORD_BYTES` (``original_truncated``).

    Never raises: this is how a message that cannot be processed leaves the worker."""
    original = rejection.original
    try:
        original_text: str | None = original.decode("utf-8")
    except UnicodeDecodeError:
        original_text = None
    record = {
        "reason": _text(rejection.reason),
        "field": _text(rejection.field),
        "error": _text(rejection.message),
        "kind": kind,
        "source": {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "index": rejection.index,
        },
        "rejected_at": now,
        "original": original_text,
        "original_base64": None
        if original_text is not None
        else base64.b64encode(original).decode(),
        "original_bytes": len(original),
        "original_truncated": False,
    }
    encoded = orjson.dumps(record)
    if len(encoded) <= MAX_RECORD_BYTES:
        return encoded
    record.update(original="", original_base64=None, original_truncated=True)
    room = MAX_RECORD_BYTES - len(orjson.dumps(record))  # what the original may take
    if original_text is None:
        record.update(original=None, original_base64=_base64_within(original, room))
    else:
        record["original"] = _text_within(original_text, room)
    return orjson.dumps(record)


def _base64_within(original: bytes, room: int) -> str:
    """The longest start of ``original`` whose base64 fits ``room`` bytes (quotes included)."""
    return base64.b64encode(original[: max(room - 2, 0) // 4 * 3]).decode()


def _text_within(text: str, room: int) -> str:
    """The longest start of ``text`` (found in a few steps) whose JSON string fits ``room`` bytes:
    escapes make a character take up to six bytes.

    >>> _text_within("\\x01" * 10, 20), _text_within("abc", 1)
    ('\\x01\\x01\\x01', '')
    """
    keep = max(room - 2, 0)
    while keep:
        size = len(orjson.dumps(text[:keep]))
        if size <= room:
            break
        keep = min(keep - 1, keep * room // size)
    return text[:keep]
