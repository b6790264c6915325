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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from monitor.contract.fields import (
    COUNT_MAX,
    INT_MAX,
    INT_MIN,
    MAX_FEATURE_TEXT,
    MAX_FEATURES,
    MAX_ID_LENGTH,
    MAX_NUMBER,
    MAX_SEGMENTS,
    MAX_TEXT_LENGTH,
    MIN_EVENT_TIME,
    FieldSpec,
    contract_fields,
    declare,
)
from monitor.contract.timestamps import parse_timestamp
from monitor.errors import InvalidEvent

__all__ = [
    "DEPLOYMENTS",
    "KINDS",
    "Event",
    "FeedbackEvent",
    "InferenceEvent",
    "event_class",
    "validate_event",
    "validate_feedback",
    "validate_inference",
]

KINDS = ("inference", "feedback")
DEPLOYMENTS = ("production", "shadow", "canary")
FeatureValue = float | int | str | bool | None


@dataclass(frozen=True, slots=True)
class InferenceEvent:
    """One model answer. Each field's :class:`~monitor.contract.fields.FieldSpec` is the contract."""

    request_id: str = declare(
        FieldSpec(
            "id",
            "the join key with feedback, and the Kafka key",
            required=True,
            otel=("gen_ai.response.id",),
            example="req-8f2c",
        )
    )
    timestamp: float = declare(
        FieldSpec(
            "timestamp",
            "event time: RFC 3339, or epoch seconds / milliseconds (values >= 1e11 are ms)",
            required=True,
            example="2026-11-25T14:03:11.250Z",
        )
    )
    model: str = declare(
        FieldSpec(
            "id",
            "the model; everything is computed per model version",
            required=True,
            otel=("gen_ai.request.model",),
            example="support-assistant",
        )
    )
    model_version: str = declare(
        FieldSpec(
            "id", "the model version", required=True, otel=("gen_ai.response.model",), example="v2"
        )
    )
    deployment: str = declare(
        FieldSpec(
            "choice",
            "how the version is deployed; shadow answers are compared with production's, never counted "
            "in its rates",
            choices=DEPLOYMENTS,
            example="canary",
        ),
        default="production",
    )
    features: Mapping[str, FeatureValue] = declare(
        FieldSpec(
            "features",
            "inputs whose distribution is watched for drift; null is a missing value",
            example={"prompt_chars": 412, "language": "de", "vip": False},
        ),
        default_factory=dict,
    )
    input_text: str | None = declare(
        FieldSpec(
            "text",
            "never stored: becomes derived text features",
            max_length=MAX_TEXT_LENGTH,
            example="Why was I charged twice for order 4411?",
        ),
        default=None,
    )
    output_text: str | None = declare(
        FieldSpec(
            "text", "never stored", max_length=MAX_TEXT_LENGTH, example="I am sorry about that ..."
        ),
        default=None,
    )
    prediction: str | float | int | bool | None = declare(
        FieldSpec("answer", "compared with the feedback label for accuracy", example="refund"),
        default=None,
    )
    score: float | None = declare(
        FieldSpec("number", "the model's own score", example=0.82), default=None
    )
    latency_ms: float | None = declare(
        FieldSpec("number", "latency reported by the producer", minimum=0.0, example=640.5),
        default=None,
    )
    input_tokens: int | None = declare(
        FieldSpec(
            "integer",
            "prompt tokens",
            minimum=0,
            path=("usage", "input_tokens"),
            otel=("gen_ai.usage.input_tokens",),
            example=103,
        ),
        default=None,
    )
    output_tokens: int | None = declare(
        FieldSpec(
            "integer",
            "completion tokens",
            minimum=0,
            path=("usage", "output_tokens"),
            otel=("gen_ai.usage.output_tokens",),
            example=212,
        ),
        default=None,
    )
    conversation_id: str | None = declare(
        FieldSpec(
            "id",
            "the conversation the turn belongs to",
            otel=("gen_ai.conversation.id",),
            example="conv-19",
        ),
        default=None,
    )
    turn: int | None = declare(
        FieldSpec("integer", "turn number in the conversation", minimum=0, example=3), default=None
    )
    segment: Mapping[str, str] = declare(
        FieldSpec(
            "segment",
            "keys listed in MONITOR_SEGMENT_KEYS get their own outcome rates",
            example={"tenant": "acme", "region": "eu"},
        ),
        default_factory=dict,
    )
    experiment: str | None = declare(
        FieldSpec(
            "id",
            "the A/B experiment the request was assigned in (with variant)",
            example="prompt-v3",
        ),
        default=None,
    )
    variant: str | None = declare(
        FieldSpec("id", "the experiment arm the request was assigned to", example="treatment"),
        default=None,
    )
    error: str | None = declare(
        FieldSpec(
            "id",
            "the request failed (an error type): counted, never stored; shadow error rate",
            otel=("error.type",),
            example="timeout",
        ),
        default=None,
    )


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    """What came back about one answer, seconds to days later."""

    request_id: str = declare(
        FieldSpec(
            "id",
            "the inference's request_id",
            required=True,
            otel=("gen_ai.response.id",),
            example="req-8f2c",
        )
    )
    timestamp: float = declare(
        FieldSpec("timestamp", "event time, as for inference", required=True, example=1795625012.5)
    )
    label: str | float | int | bool | None = declare(
        FieldSpec("answer", "ground truth for the prediction", outcome=True, example="escalate"),
        default=None,
    )
    rating: int | None = declare(
        FieldSpec(
            "integer",
            "user rating; satisfied when >= 4",
            minimum=1,
            maximum=5,
            outcome=True,
            example=2,
        ),
        default=None,
    )
    thumbs: str | None = declare(
        FieldSpec(
            "choice",
            "satisfied when up (and no rating)",
            choices=("up", "down"),
            outcome=True,
            example="down",
        ),
        default=None,
    )
    task_completed: bool | None = declare(
        FieldSpec("boolean", "the task was completed", outcome=True, example=False), default=None
    )
    human_takeover: bool | None = declare(
        FieldSpec("boolean", "a human took over", outcome=True, example=True), default=None
    )
    bad_case: bool | None = declare(
        FieldSpec("boolean", "flagged as a bad case", outcome=True, example=True), default=None
    )
    turns: int | None = declare(
        FieldSpec("integer", "conversation length", minimum=0, outcome=True, example=6),
        default=None,
    )
    judge_score: float | None = declare(
        FieldSpec(
            "number", "LLM-judge score", minimum=0.0, maximum=10.0, outcome=True, example=3.5
        ),
        default=None,
    )
    kpi: Mapping[str, float] = declare(
        FieldSpec(
            "kpi",
            "business KPIs of the answer (name -> number); per-variant means kpi.<name> in experiments",
            outcome=True,
            example={"revenue": 12.5, "csat": 4.0},
        ),
        default_factory=dict,
    )
    model: str | None = declare(
        FieldSpec("id", "for feedback whose inference never arrives", example="support-assistant"),
        default=None,
    )
    model_version: str | None = declare(FieldSpec("id", "as model", example="v2"), default=None)


Event = InferenceEvent | FeedbackEvent


def _require(obj: Mapping[str, Any], name: str) -> Any:
    if name not in obj or obj[name] is None:
        raise InvalidEvent("missing_field", name, "is required")
    return obj[name]


def _printable(text: str) -> str:
    """``text`` with unpaired surrogates escaped, so error messages and field paths always encode."""
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _unicode(value: str, name: str) -> str:
    """``value`` if it encodes as UTF-8 (JSON escapes like ``\\ud800`` decode to lone surrogates)."""
    if not value.isascii():  # O(1) in CPython: the common case costs nothing
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidEvent(
                "not_utf8",
                _printable(name),
                f"lone surrogate U+{ord(value[exc.start]):04X} at "
                f"character {exc.start}; strings must be valid Unicode (no unpaired \\ud800-\\udfff "
                "escapes)",
            ) from None
    return value


def _string(value: Any, name: str, *, max_length: int = MAX_ID_LENGTH) -> str:
    if not isinstance(value, str):
        raise InvalidEvent(
            "wrong_type", name, f"expected string, got {type(value).__name__} {value!r:.40}"
        )
    if not value:
        raise InvalidEvent("empty", name, "must not be empty")
    if len(value) > max_length:
        raise InvalidEvent("too_long", name, f"{len(value)} characters, at most {max_length}")
    return _unicode(value, name)


def _key(key: str, name: str) -> str:
    """A feature or segment name: at most MAX_ID_LENGTH characters of valid Unicode."""
    if len(key) > MAX_ID_LENGTH:
        raise InvalidEvent(
            "too_long",
            name,
            f"name {_printable(key[:40])!r}... is {len(key)} characters, at most {MAX_ID_LENGTH}",
        )
    return _unicode(key, f"{name}.{_printable(key)}")


def _int64(value: int, name: str, low: int = INT_MIN, high: int = INT_MAX) -> int:
    if not low <= value <= high:
        shown = (
            str(value)
            if abs(value) < 10**60
            else f"{str(value)[:20]}... ({len(str(abs(value)))} digits)"
        )
        bits = " (64-bit integers)" if high in (COUNT_MAX, INT_MAX) else ""
        raise InvalidEvent("out_of_range", name, f"{shown} is outside {low}–{high}{bits}")
    return value


def _opt_string(obj: Mapping[str, Any], name: str, max_length: int = MAX_ID_LENGTH) -> str | None:
    value = obj.get(name)
    return None if value is None else _string(value, name, max_length=max_length)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidEvent(
            "wrong_type", name, f"expected number, got {type(value).__name__} {value!r:.40}"
        )
    try:
        number = float(value)
    except OverflowError:
        raise InvalidEvent("out_of_range", name, f"{str(value)[:40]} is too large") from None
    if not math.isfinite(number):
        raise InvalidEvent("not_finite", name, f"{value} is not a finite number")
    if not -MAX_NUMBER < number < MAX_NUMBER:
        raise InvalidEvent("out_of_range", name, f"{number:g} is outside ±{MAX_NUMBER:g}")
    return number


def _opt_number(
    obj: Mapping[str, Any], name: str, low: float | None = None, high: float | None = None
) -> float | None:
    value = obj.get(name)
    if value is None:
        return None
    number = _number(value, name)
    if (low is not None and number < low) or (high is not None and number > high):
        raise InvalidEvent(
            "out_of_range",
            name,
            f"{value} is outside {low:g}–{high:g}"
            if high is not None
            else f"{value} is below {low:g}",
        )
    return number


def _opt_int(obj: Mapping[str, Any], name: str, low: int, high: int | None = None) -> int | None:
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent(
            "wrong_type", name, f"expected integer, got {type(value).__name__} {value!r:.40}"
        )
    return _int64(value, name, low, COUNT_MAX if high is None else high)


def _opt_bool(obj: Mapping[str, Any], name: str) -> bool | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidEvent(
            "wrong_type", name, f"expected true or false, got {type(value).__name__} {value!r:.40}"
        )
    return value


def _scalar(value: Any, name: str) -> FeatureValue:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if len(value) > MAX_FEATURE_TEXT:
            raise InvalidEvent(
                "too_long", name, f"{len(value)} characters, at most {MAX_FEATURE_TEXT}"
            )
        return _unicode(value, name)
    if isinstance(value, int):
        return _int64(value, name)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidEvent(
                "not_finite",
                name,
                f"{value} is not a finite number (send null for a missing value)",
            )
        if not -MAX_NUMBER < value < MAX_NUMBER:
            raise InvalidEvent(
                "out_of_range", name, f"{str(value)[:40]} is outside ±{MAX_NUMBER:g}"
            )
        return value
    raise InvalidEvent(
        "wrong_type", name, f"expected number, string, bool or null, got {type(value).__name__}"
    )


_CHECKED_FEATURE_NAMES: set[str] = set()  # feature names that passed _key: not checked again
_MAX_CHECKED_NAMES = 10_000  # past it, names of new features are checked on every event


def _features(obj: Mapping[str, Any]) -> Mapping[str, FeatureValue]:
    raw = obj.get("features")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidEvent("wrong_type", "features", f"expected object, got {type(raw).__name__}")
    if len(raw) > MAX_FEATURES:
        raise InvalidEvent("too_many", "features", f"{len(raw)} features, at most {MAX_FEATURES}")
    # Hot path: names checked once per process (a bounded set), one type check per value; the
    # precise error comes from _key / _scalar on the rare bad one.
    if not raw.keys() <= _CHECKED_FEATURE_NAMES:
        for name in raw:
            if len(name) > MAX_ID_LENGTH or not name.isascii():
                _key(name, "features")
        if len(_CHECKED_FEATURE_NAMES) < _MAX_CHECKED_NAMES:
            _CHECKED_FEATURE_NAMES.update(raw)
    for name, value in raw.items():
        kind = type(value)
        if kind is float:
            if not -MAX_NUMBER < value < MAX_NUMBER:  # NaN, infinity or beyond the bound
                _scalar(value, f"features.{name}")
        elif kind is str:
            if len(value) > MAX_FEATURE_TEXT or not value.isascii():
                _scalar(value, f"features.{name}")
        elif kind is int:
            if not INT_MIN <= value <= INT_MAX:
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
    if len(raw) > MAX_SEGMENTS:
        raise InvalidEvent("too_many", "segment", f"{len(raw)} keys, at most {MAX_SEGMENTS}")
    for key, value in raw.items():
        if len(key) > MAX_ID_LENGTH or not key.isascii():
            _key(key, "segment")
        if type(value) is not str or not value or len(value) > MAX_ID_LENGTH or not value.isascii():
            _string(value, f"segment.{_printable(key)}")  # raises the precise error
    return raw


def _kpi(obj: Mapping[str, Any]) -> Mapping[str, float]:
    raw = obj.get("kpi")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidEvent("wrong_type", "kpi", f"expected object, got {type(raw).__name__}")
    if len(raw) > MAX_FEATURES:
        raise InvalidEvent("too_many", "kpi", f"{len(raw)} KPIs, at most {MAX_FEATURES}")
    out = {}
    for key, value in raw.items():
        if not key or len(key) > MAX_ID_LENGTH:
            raise InvalidEvent(
                "bad_name", "kpi", f"KPI names are 1 to {MAX_ID_LENGTH} characters, got {key!r:.40}"
            )
        _unicode(key, f"kpi.{_printable(key)}")
        number = _number(value, f"kpi.{key}")
        if not -MAX_NUMBER < number < MAX_NUMBER:
            raise InvalidEvent(
                "out_of_range", f"kpi.{key}", f"{str(value)[:40]} is outside ±{MAX_NUMBER:g}"
            )
        out[key] = number
    return out


def _event_time(
    obj: Mapping[str, Any], now: float, max_future_skew: float, min_event_time: float
) -> float:
    timestamp = parse_timestamp(_require(obj, "timestamp"))
    if timestamp < min_event_time:
        floor = datetime.fromtimestamp(min_event_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        shown = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise InvalidEvent(
            "ancient_timestamp",
            "timestamp",
            f"{shown} is before {floor}, the earliest event time "
            "accepted (a zero or a unit mistake?)",
        )
    if timestamp > now + max_future_skew:
        ahead = timestamp - now
        raise InvalidEvent(
            "future_timestamp",
            "timestamp",
            f"{ahead:.0f} s ahead of the worker clock (at most {max_future_skew:.0f} s)",
        )
    return timestamp


def _prediction(value: Any, name: str) -> str | float | int | bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if len(value) > MAX_FEATURE_TEXT:
            raise InvalidEvent(
                "too_long", name, f"{len(value)} characters, at most {MAX_FEATURE_TEXT}"
            )
        return _unicode(value, name)
    if isinstance(value, (int, float)):
        return _number(value, name) if isinstance(value, float) else _int64(value, name)
    raise InvalidEvent(
        "wrong_type", name, f"expected string, number or bool, got {type(value).__name__}"
    )


def _choice(obj: Mapping[str, Any], name: str, choices: tuple[str, ...], default: Any) -> Any:
    value = obj.get(name)
    if value is None:
        return default
    if value not in choices:
        raise InvalidEvent("bad_choice", name, f"{value!r:.40} is not one of {', '.join(choices)}")
    return value


def _container(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidEvent("wrong_type", key, f"expected object, got {type(value).__name__}")
    return value


def _expression(name: str, spec: FieldSpec, default: Any) -> str:
    """The Python expression validating one declared field of ``obj`` (nested ones read ``inner_<key>``)."""
    location = spec.location(name)
    label = ".".join(location)
    low = (
        None
        if spec.minimum is None
        else int(spec.minimum)
        if spec.kind == "integer"
        else spec.minimum
    )
    high = (
        None
        if spec.maximum is None
        else int(spec.maximum)
        if spec.kind == "integer"
        else spec.maximum
    )
    source = (
        f"{{{label!r}: inner_{location[0]}.get({location[1]!r})}}" if len(location) > 1 else "obj"
    )
    return {
        "id": f"_string(_require(obj, {name!r}), {name!r})"
        if spec.required
        else f"_opt_string(obj, {name!r}, {spec.max_length})",
        "timestamp": "_event_time(obj, now, max_future_skew, min_event_time)",
        "text": f"_opt_string(obj, {name!r}, {spec.max_length})",
        "choice": f"_choice(obj, {name!r}, {spec.choices!r}, {default!r})",
        "answer": f"_prediction(obj.get({name!r}), {name!r})",
        "number": f"_opt_number(obj, {name!r}, {low!r}, {high!r})",
        "integer": f"_opt_int({source}, {label!r}, {low or 0}, {high!r})",
        "boolean": f"_opt_bool(obj, {name!r})",
        "features": "_features(obj)",
        "segment": "_segment(obj)",
        "kpi": "_kpi(obj)",
    }[spec.kind]


def _fast_check(name: str, spec: FieldSpec, value: str) -> str | None:
    """A condition under which ``value`` (the raw field) is valid as it is, or None: no shortcut.

    The slow check (:func:`_expression`) runs whenever the condition is false, so it alone decides
    what is rejected and why; the condition only spares the common valid value the calls.
    """
    longest = MAX_ID_LENGTH if spec.required else spec.max_length  # as _string / _opt_string check
    short_ascii = f"type({value}) is str and {value}.isascii() and 0 < len({value}) <= {longest}"
    if spec.kind == "id" and spec.required:
        return short_ascii
    if spec.kind in ("id", "text"):
        return f"{value} is None or ({short_ascii})"
    if spec.kind == "number":
        low = "" if spec.minimum is None else f" and {value} >= {spec.minimum!r}"
        high = "" if spec.maximum is None else f" and {value} <= {spec.maximum!r}"
        return f"{value} is None or (type({value}) is float and -{MAX_NUMBER!r} < {value} < {MAX_NUMBER!r}{low}{high})"
    if spec.kind == "integer":
        least = int(spec.minimum or 0)
        most = COUNT_MAX if spec.maximum is None else int(spec.maximum)
        return f"{value} is None or (type({value}) is int and {least} <= {value} <= {most})"
    if spec.kind == "boolean":
        return f"{value} is None or type({value}) is bool"
    return None


def _statements(name: str, spec: FieldSpec, default: Any, shortcuts: bool) -> list[str]:
    """Lines binding ``v_<name>``: the raw value kept when its fast check holds, else the full check."""
    location = spec.location(name)
    raw = f"inner_{location[0]}.get({location[1]!r})" if len(location) > 1 else f"obj.get({name!r})"
    fast = _fast_check(name, spec, f"v_{name}") if shortcuts else None
    if fast is None:
        return [f"    v_{name} = {_expression(name, spec, default)}"]
    return [
        f"    v_{name} = {raw}",
        f"    if not ({fast}):",
        f"        v_{name} = {_expression(name, spec, default)}",
    ]


def _construction(record: type[Any], names: list[str]) -> list[str]:
    """Lines returning the record: its slots set directly when the contract fills every field (a frozen
    dataclass's ``__init__`` costs an ``object.__setattr__`` call per field), else through ``__init__``.
    """
    if {f.name for f in fields(record)} != set(names) or hasattr(record, "__post_init__"):
        arguments = ", ".join(f"{name}=v_{name}" for name in names)
        return [f"    return record({arguments})"]
    return [
        "    event = _new(record)",
        *(f"    _set_{name}(event, v_{name})" for name in names),
        "    return event",
    ]


def _validator(
    record: type[Any], shortcuts: bool = True
) -> Callable[[Any, float, float, float], Any]:
    """A validator compiled from the record's field specs: the same calls a hand-written one would make.

    Fields are checked in declaration order, each with an inline test of the common valid value
    before the precise check, so the first bad field and its reason are those of the precise checks.
    """
    defaults = {f.name: f.default for f in fields(record)}
    specs = contract_fields(record)
    containers = dict.fromkeys(spec.location(name)[0] for name, spec in specs if spec.path)
    source = "\n".join(
        [
            "def validate(obj, now, max_future_skew, min_event_time):",
            "    if not isinstance(obj, dict):",
            "        raise InvalidEvent('not_an_object', '', f'expected a JSON object, got {type(obj).__name__}')",
            *(f"    inner_{key} = _container(obj, {key!r})" for key in containers),
            *(
                line
                for name, spec in specs
                for line in _statements(name, spec, defaults[name], shortcuts)
            ),
            *_construction(record, [name for name, _ in specs]),
        ]
    )
    setters = {f"_set_{name}": getattr(record, name).__set__ for name, _ in specs}
    namespace: dict[str, Any] = {**globals(), "record": record, "_new": object.__new__, **setters}
    exec(compile(source, f"<validator of {record.__name__}>", "exec"), namespace)  # noqa: S102 - source built above
    validate: Callable[[Any, float, float, float], Any] = namespace["validate"]
    return validate


_VALIDATE_INFERENCE = _validator(InferenceEvent)
_VALIDATE_FEEDBACK = _validator(FeedbackEvent)


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
