"""Map OpenTelemetry GenAI events onto the event contract.

Three shapes are accepted: the flat event (``{"name": ..., "timestamp": ..., "attributes":
{...}}``), one OTLP/JSON log record (``{"eventName": ..., "timeUnixNano": "...", "attributes":
[{"key": ..., "value": {"stringValue": ...}}]}``), and a whole OTLP/JSON logs envelope
(``{"resourceLogs": [{"scopeLogs": [{"logRecords": [...]}]}]}``, what the OpenTelemetry
Collector's Kafka exporter writes with ``encoding: otlp_json``), each log record one event.

Which attribute feeds which field is read from the contract: every field ``x`` is read from the
attribute ``monitor.x`` first, then from the GenAI attributes its spec lists.

>>> otel_to_contract({"name": "gen_ai.evaluation.result", "timestamp": 1767225600,
...     "attributes": {"gen_ai.response.id": "r1", "gen_ai.evaluation.name": "rating",
...                    "gen_ai.evaluation.score.value": 4}})
{'request_id': 'r1', 'timestamp': 1767225600, 'rating': 4}
>>> any_value({"kvlistValue": {"values": [{"key": "n", "value": {"intValue": "7"}}]}})
{'n': 7}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from monitor.contract.events import FeedbackEvent, InferenceEvent
from monitor.contract.fields import contract_fields

__all__ = [
    "EVALUATION_EVENT",
    "INFERENCE_EVENT",
    "OTEL_KINDS",
    "any_value",
    "is_otel_event",
    "is_otlp_envelope",
    "log_records",
    "names_no_event",
    "otel_kind",
    "otel_to_contract",
]

INFERENCE_EVENT = "gen_ai.client.inference.operation.details"
EVALUATION_EVENT = "gen_ai.evaluation.result"
OTEL_KINDS = {INFERENCE_EVENT: "inference", EVALUATION_EVENT: "feedback"}
FEATURE_PREFIX = "monitor.feature."
SEGMENT_PREFIX = "monitor.segment."
KPI_PREFIX = "monitor.kpi."
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
# Feedback fields an evaluation can name (gen_ai.evaluation.name); any other name is a judge score.
_EVALUATION_FIELDS = tuple(name for name, spec in contract_fields(FeedbackEvent) if spec.outcome)


def any_value(value: Any) -> Any:
    """The Python value of an OTLP/JSON ``AnyValue`` (64-bit integers arrive as strings)."""
    if not isinstance(value, dict):
        raise TypeError(f"{value!r:.60} is not an OTLP AnyValue object")
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        double = value["doubleValue"]  # JSON has no NaN / Infinity: protobuf spells them as strings
        return (
            _NON_FINITE[double]
            if isinstance(double, str) and double in _NON_FINITE
            else float(double)
        )
    if "arrayValue" in value:
        return [any_value(v) for v in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return _key_values((value["kvlistValue"] or {}).get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]  # base64 text, as sent
    return None  # an empty AnyValue is "not set"


def _key_values(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        raise TypeError(f"expected a list of key/value objects, got {type(items).__name__}")
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise TypeError(f"{item!r:.60} is not an OTLP key/value object")
        out[item["key"]] = any_value(item.get("value", {}))
    return out


def _attributes(obj: Mapping[str, Any]) -> dict[str, Any]:
    raw = obj.get("attributes") or {}
    return dict(raw) if isinstance(raw, dict) else _key_values(raw)


def _event_name(obj: Mapping[str, Any]) -> Any:
    name = obj.get("eventName") or obj.get("name") or obj.get("event.name")
    if name is None and isinstance(
        obj.get("attributes"), list
    ):  # older SDKs: an event.name attribute
        name = next(
            (
                i.get("value", {}).get("stringValue")
                for i in obj["attributes"]
                if isinstance(i, dict)
                and i.get("key") == "event.name"
                and isinstance(i.get("value"), dict)
            ),
            None,
        )
    return name


def names_no_event(obj: Mapping[str, Any]) -> bool:
    """True when ``obj`` has none of the places :func:`_event_name` reads, so it is no OTel event
    (:func:`otel_kind` is None): a cheaper test for the usual plain contract object.

    >>> names_no_event({"request_id": "a"}), names_no_event({"eventName": "gen_ai.client.inference.operation.details"})
    (True, False)
    """
    return (
        obj.get("eventName") is None
        and obj.get("name") is None
        and obj.get("event.name") is None
        and "attributes" not in obj
    )


def otel_kind(obj: Any) -> str | None:
    """``inference`` or ``feedback`` for one of the two GenAI events, else None."""
    name = _event_name(obj) if isinstance(obj, dict) else None
    return OTEL_KINDS.get(name) if isinstance(name, str) else None


def is_otel_event(obj: Any) -> bool:
    """True for an object that names one of the two GenAI events."""
    return otel_kind(obj) is not None


def is_otlp_envelope(obj: Any) -> bool:
    """True for an OTLP/JSON logs export (``resourceLogs``)."""
    return isinstance(obj, dict) and "resourceLogs" in obj


def log_records(envelope: Mapping[str, Any]) -> list[Any]:
    """Every ``resourceLogs[].scopeLogs[].logRecords[]`` of an envelope, in order."""
    records: list[Any] = []
    for resource in _list(envelope, "resourceLogs"):
        for scope in _list(resource, "scopeLogs"):
            records.extend(_list(scope, "logRecords"))
    return records


def _list(obj: Any, key: str) -> list[Any]:
    if not isinstance(obj, dict):
        raise TypeError(f"expected an object holding {key}, got {type(obj).__name__}")
    value = obj.get(key) or []
    if not isinstance(value, list):
        raise TypeError(f"{key} is {type(value).__name__}, expected a list")
    return value


def _timestamp(obj: Mapping[str, Any]) -> Any:
    for key in ("timeUnixNano", "observedTimeUnixNano"):  # 0 means "unknown" in OTLP
        nanos = obj.get(key)
        if nanos is not None and str(nanos) != "0":
            try:
                seconds, rest = divmod(
                    int(nanos), 10**9
                )  # exact to the nanosecond before the float
                return seconds + rest / 1e9
            except (
                TypeError,
                ValueError,
                OverflowError,
            ):  # not an integer, NaN, infinity, beyond a float
                return nanos  # the validator names the bad timestamp
    return obj.get("timestamp")


def _drop_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None and v != {}}


def _from_attributes(record: type, attrs: Mapping[str, Any], timestamp: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in contract_fields(record):
        if spec.kind == "timestamp":
            value = timestamp
        elif spec.kind in ("features", "segment", "kpi"):
            prefix = {"features": FEATURE_PREFIX, "segment": SEGMENT_PREFIX, "kpi": KPI_PREFIX}[
                spec.kind
            ]
            value = {k[len(prefix) :]: v for k, v in attrs.items() if k.startswith(prefix)} or None
        else:
            value = next(
                (
                    attrs[key]
                    for key in (f"monitor.{name}", *spec.otel)
                    if attrs.get(key) is not None
                ),
                None,
            )
        *outer, key = spec.location(name)
        (out.setdefault(outer[0], {}) if outer else out)[key] = value
    return _drop_none(
        {k: _drop_none(v) if isinstance(v, dict) and k == "usage" else v for k, v in out.items()}
    )


def otel_to_contract(obj: dict[str, Any]) -> dict[str, Any]:
    """Return the contract object for one OTel GenAI event; attributes the contract lacks are dropped."""
    attrs = _attributes(obj)
    if otel_kind(obj) == "inference":
        return _from_attributes(InferenceEvent, attrs, _timestamp(obj))
    out = _from_attributes(FeedbackEvent, attrs, _timestamp(obj))
    name = attrs.get("gen_ai.evaluation.name")
    field = str(name) if str(name) in _EVALUATION_FIELDS else "judge_score"
    value = attrs.get("gen_ai.evaluation.score.value")
    if field == "thumbs" or value is None:
        value = attrs.get("gen_ai.evaluation.score.label", value)
    if value is not None:
        out[field] = value
    return out
