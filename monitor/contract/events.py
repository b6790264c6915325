"""Event contract v1: inference and feedback events, validated one by one into frozen records.

A validator takes a decoded JSON object and either returns a record or raises
:class:`~monitor.errors.InvalidEvent` naming the field and the problem. The records are declared in
:mod:`monitor.contract.inference` and :mod:`monitor.contract.feedback`, the value checks live in
:mod:`monitor.contract.checks` and :mod:`monitor.contract.validator` compiles them into one
validator per kind; this module is the contract's front door, which everything imports.

>>> ev = validate_inference({"request_id": "r1", "timestamp": 1767225600, "model": "m",
...                          "model_version": "v1", "features": {"len": 12}}, now=1767225600)
>>> ev.model_version, ev.features["len"]
('v1', 12)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitor.contract.feedback import FeedbackEvent
from monitor.contract.fields import MIN_EVENT_TIME
from monitor.contract.inference import DEPLOYMENTS, InferenceEvent
from monitor.contract.validator import compile_validator

__all__ = [
    "DEPLOYMENTS",
    "KINDS",
    "Event",
    "FeedbackEvent",
    "InferenceEvent",
    "compiled_validator",
    "event_class",
    "validate_event",
    "validate_feedback",
    "validate_inference",
]

KINDS = ("inference", "feedback")

Event = InferenceEvent | FeedbackEvent

_VALIDATE_INFERENCE = compile_validator(InferenceEvent)
_VALIDATE_FEEDBACK = compile_validator(FeedbackEvent)


def validate_inference(
    obj: Any, *, now: float, max_future_skew: float = 300.0, min_event_time: float = MIN_EVENT_TIME
) -> InferenceEvent:
    """Validate one decoded inference object; raise :class:`InvalidEvent` on the first problem."""
    return _VALIDATE_INFERENCE(obj, now, max_future_skew, min_event_time)  # type: ignore[no-any-return]


def validate_feedback(
    obj: Any, *, now: float, max_future_skew: float = 300.0, min_event_time: float = MIN_EVENT_TIME
) -> FeedbackEvent:
    """Validate one decoded feedback object; raise :class:`InvalidEvent` on the first problem."""
    return _VALIDATE_FEEDBACK(obj, now, max_future_skew, min_event_time)  # type: ignore[no-any-return]


def event_class(kind: str) -> type[InferenceEvent | FeedbackEvent]:
    """The record class of an event kind."""
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    return InferenceEvent if kind == "inference" else FeedbackEvent


def compiled_validator(kind: str) -> Callable[[Any, float, float, float], Event]:
    """The validator of ``kind``, called ``(obj, now, max_future_skew, min_event_time)``: what
    :func:`validate_event` calls, for a caller that validates many events of one kind."""
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    return _VALIDATE_INFERENCE if kind == "inference" else _VALIDATE_FEEDBACK


def validate_event(
    kind: str,
    obj: Any,
    *,
    now: float,
    max_future_skew: float = 300.0,
    min_event_time: float = MIN_EVENT_TIME,
) -> Event:
    """Validate ``obj`` as an event of ``kind`` (``inference`` or ``feedback``)."""
    if kind == "inference":
        return validate_inference(
            obj, now=now, max_future_skew=max_future_skew, min_event_time=min_event_time
        )
    if kind == "feedback":
        return validate_feedback(
            obj, now=now, max_future_skew=max_future_skew, min_event_time=min_event_time
        )
    raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
