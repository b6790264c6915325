"""Dead-letter records: the original bytes, a precise reason, and where the input came from.

>>> from monitor.contract.decode import Rejection
>>> rec = dead_letter_record("monitor.feedback", 2, 41, "feedback",
...                          Rejection("out_of_range", "rating", "7 is outside 1–5", 0, b'{"rating": 7}'), now=0)
>>> orjson.loads(rec)["error"]
'rating: 7 is outside 1–5'
"""

from __future__ import annotations

import base64

import orjson

from monitor.contract.decode import Rejection
from monitor.contract.events import KINDS

__all__ = ["DEAD_LETTER_KINDS", "JUDGE_KIND", "dead_letter_key", "dead_letter_record"]

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
    """JSON bytes for the dead-letter topic; ``original`` is text when it is UTF-8, base64 otherwise.

    Never raises: this is how a message that cannot be processed leaves the worker."""
    try:
        original_text: str | None = rejection.original.decode("utf-8")
    except UnicodeDecodeError:
        original_text = None
    return orjson.dumps(
        {
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
            else base64.b64encode(rejection.original).decode(),
        }
    )
