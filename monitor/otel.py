"""Map OpenTelemetry GenAI events onto the event contract.

Two shapes are accepted: the flat one (``{"name": ..., "timestamp": ..., "attributes": {...}}``)
and an OTLP/JSON log record (``{"eventName": ..., "timeUnixNano": "...",
"attributes": [{"key": ..., "value": {"stringValue": ...}}]}``).

>>> otel_to_contract({"name": "gen_ai.evaluation.result", "timestamp": 1767225600,
...     "attributes": {"gen_ai.response.id": "r1", "gen_ai.evaluation.name": "rating",
...                    "gen_ai.evaluation.score.value": 4}})
{'request_id': 'r1', 'timestamp': 1767225600, 'rating': 4}
"""

from __future__ import annotations

from typing import Any

__all__ = ["EVALUATION_EVENT", "INFERENCE_EVENT", "is_otel_event", "otel_to_contract"]

INFERENCE_EVENT = "gen_ai.client.inference.operation.details"
EVALUATION_EVENT = "gen_ai.evaluation.result"
FEATURE_PREFIX = "monitor.feature."
SEGMENT_PREFIX = "monitor.segment."
_OTLP_VALUE_KEYS = ("stringValue", "intValue", "doubleValue", "boolValue")
# gen_ai.evaluation.name -> contract field
_EVALUATION_FIELDS = {
    "rating": "rating", "judge_score": "judge_score", "thumbs": "thumbs", "task_completed": "task_completed",
    "human_takeover": "human_takeover", "bad_case": "bad_case", "turns": "turns", "label": "label",
}


def _event_name(obj: dict[str, Any]) -> Any:
    return obj.get("eventName", obj.get("name", obj.get("event.name")))


def is_otel_event(obj: Any) -> bool:
    """True for an object that names one of the two GenAI events."""
    return isinstance(obj, dict) and _event_name(obj) in (INFERENCE_EVENT, EVALUATION_EVENT)


def _attributes(obj: dict[str, Any]) -> dict[str, Any]:
    raw = obj.get("attributes") or {}
    if isinstance(raw, dict):
        return raw
    flat: dict[str, Any] = {}
    for item in raw if isinstance(raw, list) else []:
        value = item.get("value", {}) if isinstance(item, dict) else {}
        if not isinstance(value, dict):
            raise ValueError(f"attribute {item.get('key')!r} has no OTLP value object")
        for key in _OTLP_VALUE_KEYS:
            if key in value:
                flat[item.get("key")] = int(value[key]) if key == "intValue" else value[key]
    return flat


def _timestamp(obj: dict[str, Any]) -> Any:
    nanos = obj.get("timeUnixNano")
    if nanos is not None:
        try:
            return int(nanos) / 1e9
        except (TypeError, ValueError):
            return nanos
    return obj.get("timestamp")


def _drop_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def otel_to_contract(obj: dict[str, Any]) -> dict[str, Any]:
    """Return the contract object for one OTel GenAI event; fields the contract lacks are dropped."""
    attrs = _attributes(obj)
    base = {"request_id": attrs.get("gen_ai.response.id"), "timestamp": _timestamp(obj)}
    if _event_name(obj) == INFERENCE_EVENT:
        return _drop_none({
            **base,
            "model": attrs.get("monitor.model", attrs.get("gen_ai.request.model")),
            "model_version": attrs.get("monitor.model_version", attrs.get("gen_ai.response.model")),
            "deployment": attrs.get("monitor.deployment"),
            "latency_ms": attrs.get("monitor.latency_ms"),
            "conversation_id": attrs.get("gen_ai.conversation.id"),
            "usage": _drop_none({"input_tokens": attrs.get("gen_ai.usage.input_tokens"),
                                 "output_tokens": attrs.get("gen_ai.usage.output_tokens")}),
            "features": {k[len(FEATURE_PREFIX):]: v for k, v in attrs.items() if k.startswith(FEATURE_PREFIX)},
            "segment": {k[len(SEGMENT_PREFIX):]: v for k, v in attrs.items() if k.startswith(SEGMENT_PREFIX)},
        })
    name = attrs.get("gen_ai.evaluation.name")
    field = _EVALUATION_FIELDS.get(str(name), "judge_score")
    value = attrs.get("gen_ai.evaluation.score.value")
    if field == "thumbs" or value is None:
        value = attrs.get("gen_ai.evaluation.score.label", value)
    return _drop_none({**base, field: value, "model": attrs.get("monitor.model"),
                       "model_version": attrs.get("monitor.model_version")})
