"""What the worker forwards to the judge topic, and how the runner reads it back.

One judge message per consumed batch: a JSON array of records. An *inference* record carries the
texts of a production or shadow answer and whether the uniform sample chose its request; a
*feedback* record carries the human signals of a feedback event (rating, thumbs, takeover, bad
case), used to judge flagged requests and to measure the judge's agreement with people. Feedback
that carries only a judge score (the judge's own results) is not forwarded.

>>> from monitor.contract.events import InferenceEvent, FeedbackEvent
>>> inf = InferenceEvent("r1", 1.0, "bot", "v1", input_text="Q?", output_text="A.")
>>> fb = FeedbackEvent("r1", 2.0, thumbs="down")
>>> records = judge_records([inf], [], [fb, FeedbackEvent("r1", 3.0, judge_score=4.0)], 1.0, True)
>>> [r["kind"] for r in records], records[0]["sampled"], records[1]["thumbs"]
(['inference', 'feedback'], True, 'down')
>>> read_records(records)[0]
AnswerRecord(request_id='r1', ts=1.0, model='bot', version='v1', deployment='production', \
input_text='Q?', output_text='A.', input_tokens=None, output_tokens=None, sampled=True)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import orjson

from monitor.contract.events import FeedbackEvent, InferenceEvent
from monitor.contract.reasons import BAD_CHOICE, MISSING_FIELD
from monitor.errors import InvalidEvent
from monitor.judge.sampling import sampled

__all__ = [
    "JUDGE_MESSAGE_BYTES",
    "AnswerRecord",
    "HumanRecord",
    "judge_messages",
    "judge_records",
    "read_records",
]

# A judge message's size at most: under Kafka's default message.max.bytes (1,048,588) with room
# for the record's overhead, so neither the producer nor the broker refuses it.
JUDGE_MESSAGE_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    """One production or shadow answer with its texts, as the runner receives it."""

    request_id: str
    ts: float
    model: str
    version: str
    deployment: str
    input_text: str
    output_text: str
    input_tokens: int | None
    output_tokens: int | None
    sampled: bool


@dataclass(frozen=True, slots=True)
class HumanRecord:
    """The human signals of one feedback event."""

    request_id: str
    ts: float
    rating: int | None
    thumbs: str | None
    human_takeover: bool | None
    bad_case: bool | None


_HUMAN = ("rating", "thumbs", "human_takeover", "bad_case")


def _answer(e: InferenceEvent, rate: float) -> AnswerRecord | None:
    if not e.input_text or not e.output_text:
        return None
    return AnswerRecord(
        e.request_id,
        e.timestamp,
        e.model,
        e.model_version,
        e.deployment,
        e.input_text,
        e.output_text,
        e.input_tokens,
        e.output_tokens,
        sampled(e.request_id, rate),
    )


def judge_records(
    inferences: Iterable[InferenceEvent],
    shadows: Iterable[InferenceEvent],
    feedback: Iterable[FeedbackEvent],
    rate: float,
    forward_unsampled: bool,
) -> list[dict[str, Any]]:
    """The judge message of one batch: answers with both texts (unsampled ones only when
    ``forward_unsampled``, so flagged feedback can find them), then feedback with human signals."""
    out: list[dict[str, Any]] = []
    for event in (*inferences, *shadows):
        answer = _answer(event, rate)
        if answer is not None and (answer.sampled or forward_unsampled):
            out.append({"kind": "inference", **asdict(answer)})
    for fb in feedback:
        if any(getattr(fb, name) is not None for name in _HUMAN):
            human = HumanRecord(fb.request_id, fb.timestamp, *(getattr(fb, n) for n in _HUMAN))
            out.append({"kind": "feedback", **asdict(human)})
    return out


def judge_messages(
    records: Sequence[dict[str, Any]], max_bytes: int = JUDGE_MESSAGE_BYTES
) -> list[bytes]:
    """``records`` in order as JSON arrays of at most ``max_bytes`` each (a record larger than that
    alone): a batch caught up from a backlog holds megabytes of answer texts.

    >>> records = [{"kind": "feedback", "request_id": f"r{i}"} for i in range(3)]
    >>> [len(orjson.loads(m)) for m in judge_messages(records, max_bytes=90)]
    [2, 1]
    >>> sum(len(m) for m in judge_messages(records)) == len(orjson.dumps(records))
    True
    """
    messages: list[bytes] = []
    parts: list[bytes] = []
    size = 2  # the brackets
    for record in records:
        part = orjson.dumps(record)
        if parts and size + 1 + len(part) > max_bytes:
            messages.append(b"[" + b",".join(parts) + b"]")
            parts, size = [], 2
        size += len(part) + (1 if parts else 0)
        parts.append(part)
    if parts:
        messages.append(b"[" + b",".join(parts) + b"]")
    return messages


def _build(cls: type[AnswerRecord | HumanRecord], raw: dict[str, Any]) -> Any:
    names = [f.name for f in fields(cls)]
    missing = [n for n in names if n not in raw]
    if missing:
        raise InvalidEvent(MISSING_FIELD, missing[0], f"judge record lacks {', '.join(missing)}")
    return cls(**{n: raw[n] for n in names})


def read_records(records: Sequence[Any]) -> list[AnswerRecord | HumanRecord]:
    """Records of one judge message; a record of another shape is an ``InvalidEvent``."""
    out: list[AnswerRecord | HumanRecord] = []
    for raw in records:
        kind = raw.get("kind") if isinstance(raw, dict) else None
        if kind == "inference":
            out.append(_build(AnswerRecord, raw))
        elif kind == "feedback":
            out.append(_build(HumanRecord, raw))
        else:
            raise InvalidEvent(BAD_CHOICE, "kind", f"{kind!r} is not inference or feedback")
    return out
