"""How an event field is declared: one :class:`FieldSpec` per field, attached to the record's dataclass.

The fields of :class:`~monitor.contract.events.InferenceEvent` and :class:`~monitor.contract.events.FeedbackEvent`
carry their spec in ``dataclasses.field(metadata=...)``: the validator, the JSON Schemas in
``docs/schema/``, the OpenTelemetry mapping, the file readers, the join payloads and the
simulator all read these specs, so adding a field is one declaration (plus its test).

>>> from monitor.contract.events import FeedbackEvent
>>> [name for name, spec in contract_fields(FeedbackEvent) if spec.outcome][:3]
['label', 'rating', 'thumbs']
>>> json_keys(FeedbackEvent)[:2]
('request_id', 'timestamp')
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "COUNT_MAX",
    "DEFAULT_MAX_EXPERIMENTS",
    "DEFAULT_MAX_FEEDBACK",
    "INT_MAX",
    "INT_MIN",
    "MAX_EVENTS_PER_MESSAGE",
    "MAX_FEATURES",
    "MAX_FEATURE_TEXT",
    "MAX_ID_LENGTH",
    "MAX_NUMBER",
    "MAX_RECORD_BYTES",
    "MAX_SEGMENTS",
    "MAX_TEXT_LENGTH",
    "MIN_EVENT_TIME",
    "TIMESTAMP_PATTERN",
    "FieldSpec",
    "contract_fields",
    "declare",
    "json_keys",
    "to_json_event",
]

MAX_ID_LENGTH = 256
MAX_TEXT_LENGTH = 1_000_000
MAX_FEATURES = 512
MAX_FEATURE_TEXT = 1024
MAX_NUMBER = (
    1e300  # numbers must be strictly inside ±MAX_NUMBER (larger ones overflow a batch's sums)
)
MAX_SEGMENTS = 64
MAX_EVENTS_PER_MESSAGE = 10_000  # a larger array is one rejection, not thousands of dead letters
# Feedback events one request holds in the join store (MONITOR_MAX_FEEDBACK_PER_REQUEST), by default
# and at most: more are dead-lettered too_many_feedback (docs/outcomes.md). The events of one message
# then complete at most MAX_EVENTS_PER_MESSAGE times this many joins, each with a detector-value
# position of its own within their offset (monitor.detectors.values.POSITIONS_PER_OFFSET, 2^20), so
# their values can always be cut into records the broker takes.
DEFAULT_MAX_FEEDBACK = 100
# Experiments the events name that MONITOR_EXPERIMENTS does not declare, with partials per batch and
# reports (MONITOR_MAX_EXPERIMENTS): the ones with the most assignments (monitor.experiments.bound).
DEFAULT_MAX_EXPERIMENTS = 50
# The largest record the workers produce (a dead letter, a detector-values message): a Kafka broker
# refuses one over its message.max.bytes (1,048,588 by default), with room left for key and framing.
MAX_RECORD_BYTES = 1_000_000
# Integers the store and the JSON encoders hold: signed or unsigned 64 bits; counts are signed.
INT_MIN, INT_MAX, COUNT_MAX = -(2**63), 2**64 - 1, 2**63 - 1
# Event times before 2000-01-01T00:00:00Z are producer bugs (a zero, seconds and milliseconds mixed up).
MIN_EVENT_TIME = 946_684_800.0
# RFC 3339 date-time (blanks around it ignored); without an offset the time is UTC. The calendar
# itself (February 30th) is checked on parsing.
TIMESTAMP_PATTERN = re.compile(
    r"^\s*[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"([.,][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?\s*$"
)

Kind = Literal[
    "id",
    "timestamp",
    "text",
    "choice",
    "answer",
    "number",
    "integer",
    "boolean",
    "features",
    "segment",
    "kpi",
]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What one event field accepts.

    ``kind`` picks the check: ``id`` (string of 1 to ``max_length`` characters), ``timestamp``,
    ``text`` (string up to ``max_length``), ``choice`` (one of ``choices``), ``answer`` (string,
    number or bool), ``number`` / ``integer`` (within ``minimum``-``maximum``), ``boolean``,
    ``features`` (name -> number, string, bool or null), ``segment`` (name -> string), ``kpi``
    (name -> finite number).
    ``path`` is where the value sits in the JSON object when not at the top level under the
    field's name (``("usage", "input_tokens")``). ``otel`` lists the OpenTelemetry GenAI
    attributes it is read from, after ``monitor.<name>``. ``outcome`` marks the feedback fields
    the outcome metrics read (kept in the join payload; an evaluation event can name them).
    """

    kind: Kind
    doc: str
    required: bool = False
    path: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    max_length: int = MAX_ID_LENGTH
    otel: tuple[str, ...] = ()
    outcome: bool = False
    example: Any = None

    def location(self, name: str) -> tuple[str, ...]:
        """The keys leading to the value in a JSON event."""
        return self.path or (name,)


def declare(
    spec: FieldSpec,
    default: Any = dataclasses.MISSING,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field carrying ``spec`` (``required`` fields take no default)."""
    metadata = {"contract": spec}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    if default is not dataclasses.MISSING:
        return dataclasses.field(default=default, metadata=metadata)
    return dataclasses.field(metadata=metadata)


def contract_fields(record: type) -> tuple[tuple[str, FieldSpec], ...]:
    """(name, spec) of every declared field of a record class, in declaration order."""
    return tuple(
        (f.name, f.metadata["contract"])
        for f in dataclasses.fields(record)
        if "contract" in f.metadata
    )


def json_keys(record: type) -> tuple[str, ...]:
    """The top-level keys of the JSON form of a record (``usage`` once for both token counts)."""
    return tuple(dict.fromkeys(spec.location(name)[0] for name, spec in contract_fields(record)))


def to_json_event(record: type, values: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of an event given its field values by name (nested fields placed at their path).

    >>> from monitor.contract.events import InferenceEvent
    >>> to_json_event(InferenceEvent, {"request_id": "r", "input_tokens": 3, "latency_ms": None})
    {'request_id': 'r', 'usage': {'input_tokens': 3}}
    """
    specs = dict(contract_fields(record))
    unknown = set(values) - set(specs)
    if unknown:
        raise KeyError(
            f"{', '.join(sorted(unknown))}: not fields of {record.__name__}; fields: {', '.join(specs)}"
        )
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        *outer, key = specs[name].location(name)
        (out.setdefault(outer[0], {}) if outer else out)[key] = value
    return out
