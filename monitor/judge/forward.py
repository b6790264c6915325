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

from monitor.contract.events import FeedbackEvent, InferenceEvent
from monitor.contract.reasons import BAD_CHOICE, MISSING_FIELD
from monitor.errors import InvalidEvent
from monitor.judge.sampling import sampled

__all__ = ["AnswerRecord", "HumanRecord", "judge_records", "read_records"]


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
