"""JSON Schemas (draft 2020-12) of the event contract, generated from the declared fields.

``monitor schema --write docs/schema`` writes them; a test fails when the committed files differ.
What a schema cannot say is checked by the monitor only: a timestamp at most
``MONITOR_MAX_FUTURE_SKEW`` ahead of the worker clock, a time string before 2000, a real calendar
date, the message size, strings that are valid Unicode (no lone surrogate escapes), and integers
beyond 64 bits written without an exponent (a schema cannot tell ``1e20`` from
``100000000000000000000``; the monitor reads the second exactly and rejects it).

>>> schema = event_schema("feedback")
>>> schema["required"], schema["properties"]["rating"]["anyOf"][0]
(['request_id', 'timestamp'], {'type': 'integer', 'minimum': 1, 'maximum': 5})
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from monitor.contract.events import KINDS, event_class
from monitor.contract.fields import (
    COUNT_MAX,
    MAX_FEATURE_TEXT,
    MAX_FEATURES,
    MAX_ID_LENGTH,
    MAX_NUMBER,
    MAX_SEGMENTS,
    MIN_EVENT_TIME,
    TIMESTAMP_PATTERN,
    FieldSpec,
    contract_fields,
)
from monitor.contract.timestamps import MILLIS_THRESHOLD

__all__ = ["SCHEMA_FILES", "batch_schema", "event_schema", "schema_documents", "write_schemas"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
BASE_ID = "urn:llm-drift-monitor:schema:"
SCHEMA_FILES = {
    "inference": "inference-event.schema.json",
    "feedback": "feedback-event.schema.json",
    "batch": "batch-message.schema.json",
}


def _bounded(kind: str, spec: FieldSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind}
    if spec.minimum is not None:
        out["minimum"] = int(spec.minimum) if kind == "integer" else spec.minimum
    elif kind == "number":
        out["exclusiveMinimum"] = -MAX_NUMBER
    if spec.maximum is not None:
        out["maximum"] = int(spec.maximum) if kind == "integer" else spec.maximum
    else:  # counts are signed 64-bit integers; other numbers stay within ±MAX_NUMBER
        out.update(
            {"maximum": COUNT_MAX} if kind == "integer" else {"exclusiveMaximum": MAX_NUMBER}
        )
    return out


def _value_schema(spec: FieldSpec) -> dict[str, Any]:
    """The schema of a present, non-null value of the field."""
    if spec.kind in ("id", "text"):
        return {"type": "string", "minLength": 1, "maxLength": spec.max_length}
    if spec.kind == "timestamp":
        return {
            "anyOf": [
                {"type": "string", "pattern": TIMESTAMP_PATTERN.pattern},
                {
                    "type": "number",
                    "minimum": MIN_EVENT_TIME,
                    "exclusiveMaximum": MILLIS_THRESHOLD,
                    "description": "epoch seconds, from 2000-01-01T00:00:00Z",
                },
                {
                    "type": "number",
                    "minimum": MIN_EVENT_TIME * 1000,
                    "description": f"epoch milliseconds (numbers from {MILLIS_THRESHOLD:g}), from 2000-01-01T00:00:00Z",
                },
            ]
        }
    if spec.kind == "choice":
        return {"enum": list(spec.choices)}
    if spec.kind == "answer":
        return {
            "type": ["string", "number", "boolean"],
            "maxLength": MAX_FEATURE_TEXT,
            "exclusiveMinimum": -MAX_NUMBER,
            "exclusiveMaximum": MAX_NUMBER,
        }
    if spec.kind in ("number", "integer"):
        return _bounded(spec.kind, spec)
    if spec.kind == "boolean":
        return {"type": "boolean"}
    if spec.kind == "features":
        return {
            "type": "object",
            "maxProperties": MAX_FEATURES,
            "propertyNames": {"maxLength": MAX_ID_LENGTH},
            "additionalProperties": {
                "anyOf": [
                    {"type": ["string", "boolean", "null"], "maxLength": MAX_FEATURE_TEXT},
                    {
                        "type": "number",
                        "exclusiveMinimum": -MAX_NUMBER,
                        "exclusiveMaximum": MAX_NUMBER,
                    },
                ]
            },
        }
    if spec.kind == "segment":
        return {
            "type": "object",
            "maxProperties": MAX_SEGMENTS,
            "propertyNames": {"maxLength": MAX_ID_LENGTH},
            "additionalProperties": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
        }
    if spec.kind == "kpi":
        return {
            "type": "object",
            "maxProperties": MAX_FEATURES,
            "propertyNames": {"minLength": 1, "maxLength": MAX_ID_LENGTH},
            "additionalProperties": {
                "type": "number",
                "exclusiveMinimum": -MAX_NUMBER,
                "exclusiveMaximum": MAX_NUMBER,
            },
        }
    raise ValueError(f"no schema for field kind {spec.kind!r}")


def _field_schema(spec: FieldSpec) -> dict[str, Any]:
    value = _value_schema(spec)
    schema = value if spec.required else {"anyOf": [value, {"type": "null"}]}
    if "anyOf" in value and not spec.required:
        schema = {"anyOf": [*value["anyOf"], {"type": "null"}]}
    examples = {} if spec.example is None else {"examples": [spec.example]}
    return {**schema, "description": spec.doc, **examples}


def event_schema(kind: str) -> dict[str, Any]:
    """The schema of one event of ``kind``; unknown properties are allowed (and ignored)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    nested: dict[str, dict[str, Any]] = {}
    for name, spec in contract_fields(event_class(kind)):
        location = spec.location(name)
        if len(location) == 2:
            nested.setdefault(location[0], {})[location[1]] = _field_schema(spec)
            continue
        properties[name] = _field_schema(spec)
        if spec.required:
            required.append(name)
    for key, inner in nested.items():
        properties[key] = {
            "anyOf": [{"type": "object", "properties": inner}, {"type": "null"}],
            "description": f"{', '.join(inner)}",
        }
    return {
        "$schema": DIALECT,
        "$id": BASE_ID + SCHEMA_FILES[kind],
        "title": f"{kind} event",
        "description": f"One {kind} event of the monitor's event contract (docs/events.md).",
        "type": "object",
        "required": required,
        "properties": properties,
    }


def batch_schema() -> dict[str, Any]:
    """A Kafka message: one event or a JSON array of events, all of the topic's kind."""
    defs = {
        kind: {k: v for k, v in event_schema(kind).items() if k not in ("$schema", "$id")}
        for kind in KINDS
    }
    return {
        "$schema": DIALECT,
        "$id": BASE_ID + SCHEMA_FILES["batch"],
        "title": "message",
        "description": "The value of one Kafka message: an event, or an array of events of the topic's kind.",
        "$defs": defs,
        "anyOf": [
            *({"$ref": f"#/$defs/{kind}"} for kind in KINDS),
            *({"type": "array", "items": {"$ref": f"#/$defs/{kind}"}} for kind in KINDS),
        ],
    }


def schema_documents() -> dict[str, str]:
    """File name -> JSON text of every schema, as committed under docs/schema/."""
    documents = {SCHEMA_FILES[kind]: event_schema(kind) for kind in KINDS}
    documents[SCHEMA_FILES["batch"]] = batch_schema()
    return {
        name: json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        for name, doc in documents.items()
    }


def write_schemas(directory: str | Path, *, check: bool = False) -> list[Path]:
    """Write the schemas into ``directory``; with ``check``, write nothing and return the stale files."""
    directory = Path(directory)
    stale = []
    for name, text in schema_documents().items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            stale.append(path)
            if not check:
                directory.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    return stale
