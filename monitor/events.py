"""Event contract v1: inference and feedback events, validated one by one into frozen records.

A validator takes a decoded JSON object and either returns a record or raises
:class:`~monitor.errors.InvalidEvent` naming the field and the problem.

>>> ev = validate_inference({"request_id": "r1", "timestamp": 1767225600, "model": "m",
...                          "model_version": "v1", "features": {"len": 12}}, now=1767225600)
>>> ev.model_version, ev.features["len"]
('v1', 12)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.errors import InvalidEvent
from monitor.timestamps import parse_timestamp

__all__ = [
    "DEPLOYMENTS",
    "KINDS",
    "Event",
    "FeedbackEvent",
    "InferenceEvent",
    "validate_event",
    "validate_feedback",
    "validate_inference",
]

KINDS = ("inference", "feedback")
DEPLOYMENTS = ("production", "shadow", "canary")
MAX_ID_LENGTH = 256
MAX_FEATURES = 512
FeatureValue = float | int | str | bool | None


@dataclass(frozen=True, slots=True)
class InferenceEvent:
    request_id: str
    timestamp: float
    model: str
    model_version: str
    deployment: str = "production"
    features: Mapping[str, FeatureValue] = field(default_factory=dict)
    input_text: str | None = None
    output_text: str | None = None
    prediction: str | float | int | bool | None = None
    score: float | None = None
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    conversation_id: str | None = None
    turn: int | None = None
    segment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    request_id: str
    timestamp: float
    label: str | float | int | bool | None = None
    rating: int | None = None
    thumbs: str | None = None
    task_completed: bool | None = None
    human_takeover: bool | None = None
    bad_case: bool | None = None
    turns: int | None = None
    judge_score: float | None = None
    model: str | None = None
    model_version: str | None = None


Event = InferenceEvent | FeedbackEvent


def _require(obj: Mapping[str, Any], name: str) -> Any:
    if name not in obj or obj[name] is None:
        raise InvalidEvent("missing_field", name, "is required")
    return obj[name]


def _string(value: Any, name: str, *, max_length: int = MAX_ID_LENGTH) -> str:
    if not isinstance(value, str):
        raise InvalidEvent("wrong_type", name, f"expected string, got {type(value).__name__} {value!r:.40}")
    if not value:
        raise InvalidEvent("empty", name, "must not be empty")
    if len(value) > max_length:
        raise InvalidEvent("too_long", name, f"{len(value)} characters, at most {max_length}")
    return value


def _opt_string(obj: Mapping[str, Any], name: str, max_length: int = MAX_ID_LENGTH) -> str | None:
    value = obj.get(name)
    return None if value is None else _string(value, name, max_length=max_length)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidEvent("wrong_type", name, f"expected number, got {type(value).__name__} {value!r:.40}")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidEvent("out_of_range", name, f"{str(value)[:40]} is too large") from None
    if not math.isfinite(number):
        raise InvalidEvent("not_finite", name, f"{value} is not a finite number")
    return number


def _opt_number(obj: Mapping[str, Any], name: str, low: float | None = None, high: float | None = None) -> float | None:
    value = obj.get(name)
    if value is None:
        return None
    number = _number(value, name)
    if (low is not None and number < low) or (high is not None and number > high):
        raise InvalidEvent("out_of_range", name, f"{value} is outside {low:g}–{high:g}" if high is not None
                           else f"{value} is below {low:g}")
    return number


def _opt_int(obj: Mapping[str, Any], name: str, low: int, high: int | None = None) -> int | None:
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent("wrong_type", name, f"expected integer, got {type(value).__name__} {value!r:.40}")
    if value < low or (high is not None and value > high):
        bound = f"{low}–{high}" if high is not None else f">= {low}"
        raise InvalidEvent("out_of_range", name, f"{value} is outside {bound}")
    return value


def _opt_bool(obj: Mapping[str, Any], name: str) -> bool | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidEvent("wrong_type", name, f"expected true or false, got {type(value).__name__} {value!r:.40}")
    return value


def _scalar(value: Any, name: str) -> FeatureValue:
    if value is None or isinstance(value, (bool, str)):
        if isinstance(value, str) and len(value) > 1024:
            raise InvalidEvent("too_long", name, f"{len(value)} characters, at most 1024")
        return value
    if isinstance(value, (int, float)):
        try:
            finite = math.isfinite(value) and abs(value) < 1e300
        except OverflowError:
            raise InvalidEvent("out_of_range", name, f"{str(value)[:40]} is too large") from None
        if not finite and isinstance(value, int):
            raise InvalidEvent("out_of_range", name, f"{str(value)[:40]} is too large")
        if not finite:
            raise InvalidEvent("not_finite", name, f"{value} is not a finite number (send null for a missing value)")
        return value
    raise InvalidEvent("wrong_type", name, f"expected number, string, bool or null, got {type(value).__name__}")


def _features(obj: Mapping[str, Any]) -> Mapping[str, FeatureValue]:
    raw = obj.get("features")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidEvent("wrong_type", "features", f"expected object, got {type(raw).__name__}")
    if len(raw) > MAX_FEATURES:
        raise InvalidEvent("too_many", "features", f"{len(raw)} features, at most {MAX_FEATURES}")
    # Hot path: one type check per value; the precise error comes from _scalar on the rare bad one.
    for name, value in raw.items():
        kind = type(value)
        if kind is float:
            if value - value != 0.0:  # NaN or infinity
                _scalar(value, f"features.{name}")
        elif kind is str:
            if len(value) > 1024:
                _scalar(value, f"features.{name}")
        elif kind is int:
            if not -1e300 < value < 1e300:
                _scalar(value, f"features.{name}")
        elif value is not None and kind is not bool:
            _scalar(value, f"features.{name}")
    return raw


def _segment(obj: Mapping[str, Any]) -> Mapping[str, str]:
    raw = obj.get("segment")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidEvent("wrong_type", "segment", f"expected object, got {type(raw).__name__}")
    for key, value in raw.items():
        if type(value) is not str or not value or len(value) > MAX_ID_LENGTH:
            _string(value, f"segment.{key}")  # raises the precise error
    return raw


def _event_time(obj: Mapping[str, Any], now: float, max_future_skew: float) -> float:
    timestamp = parse_timestamp(_require(obj, "timestamp"))
    if timestamp > now + max_future_skew:
        ahead = timestamp - now
        raise InvalidEvent(
            "future_timestamp", "timestamp", f"{ahead:.0f} s ahead of the worker clock (at most {max_future_skew:.0f} s)"
        )
    return timestamp


def _prediction(value: Any, name: str) -> str | float | int | bool | None:
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, (int, float)):
        return _number(value, name) if isinstance(value, float) else value
    raise InvalidEvent("wrong_type", name, f"expected string, number or bool, got {type(value).__name__}")


def validate_inference(obj: Any, *, now: float, max_future_skew: float = 300.0) -> InferenceEvent:
    """Validate one decoded inference object; raise :class:`InvalidEvent` on the first problem."""
    if not isinstance(obj, dict):
        raise InvalidEvent("not_an_object", "", f"expected a JSON object, got {type(obj).__name__}")
    deployment = obj.get("deployment") or "production"
    if deployment not in DEPLOYMENTS:
        raise InvalidEvent("bad_choice", "deployment", f"{deployment!r:.40} is not one of {', '.join(DEPLOYMENTS)}")
    usage = obj.get("usage") or {}
    if not isinstance(usage, dict):
        raise InvalidEvent("wrong_type", "usage", f"expected object, got {type(usage).__name__}")
    return InferenceEvent(
        request_id=_string(_require(obj, "request_id"), "request_id"),
        timestamp=_event_time(obj, now, max_future_skew),
        model=_string(_require(obj, "model"), "model"),
        model_version=_string(_require(obj, "model_version"), "model_version"),
        deployment=deployment,
        features=_features(obj),
        input_text=_opt_string(obj, "input_text", max_length=1_000_000),
        output_text=_opt_string(obj, "output_text", max_length=1_000_000),
        prediction=_prediction(obj.get("prediction"), "prediction"),
        score=_opt_number(obj, "score"),
        latency_ms=_opt_number(obj, "latency_ms", low=0.0),
        input_tokens=_opt_int({"usage.input_tokens": usage.get("input_tokens")}, "usage.input_tokens", 0),
        output_tokens=_opt_int({"usage.output_tokens": usage.get("output_tokens")}, "usage.output_tokens", 0),
        conversation_id=_opt_string(obj, "conversation_id"),
        turn=_opt_int(obj, "turn", 0),
        segment=_segment(obj),
    )


def validate_feedback(obj: Any, *, now: float, max_future_skew: float = 300.0) -> FeedbackEvent:
    """Validate one decoded feedback object; raise :class:`InvalidEvent` on the first problem."""
    if not isinstance(obj, dict):
        raise InvalidEvent("not_an_object", "", f"expected a JSON object, got {type(obj).__name__}")
    thumbs = obj.get("thumbs")
    if thumbs is not None and thumbs not in ("up", "down"):
        raise InvalidEvent("bad_choice", "thumbs", f"{thumbs!r:.40} is not one of up, down")
    return FeedbackEvent(
        request_id=_string(_require(obj, "request_id"), "request_id"),
        timestamp=_event_time(obj, now, max_future_skew),
        label=_prediction(obj.get("label"), "label"),
        rating=_opt_int(obj, "rating", 1, 5),
        thumbs=thumbs,
        task_completed=_opt_bool(obj, "task_completed"),
        human_takeover=_opt_bool(obj, "human_takeover"),
        bad_case=_opt_bool(obj, "bad_case"),
        turns=_opt_int(obj, "turns", 0),
        judge_score=_opt_number(obj, "judge_score", low=0.0, high=10.0),
        model=_opt_string(obj, "model"),
        model_version=_opt_string(obj, "model_version"),
    )


def validate_event(kind: str, obj: Any, *, now: float, max_future_skew: float = 300.0) -> Event:
    """Validate ``obj`` as an event of ``kind`` (``inference`` or ``feedback``)."""
    if kind == "inference":
        return validate_inference(obj, now=now, max_future_skew=max_future_skew)
    if kind == "feedback":
        return validate_feedback(obj, now=now, max_future_skew=max_future_skew)
    raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
