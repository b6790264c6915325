"""Why a message or an event is rejected: the stable codes of dead letters and of
``monitor_events_rejected_total{reason}``, declared once here (docs/events.md says when each applies).

>>> "out_of_range" in REJECTION_REASONS, len(REJECTION_REASONS) == len(set(REJECTION_REASONS))
(True, True)
"""

from __future__ import annotations

__all__ = [
    "ANCIENT_TIMESTAMP",
    "BAD_CHOICE",
    "BAD_NAME",
    "BAD_OTEL",
    "BAD_TIMESTAMP",
    "EMPTY",
    "FUTURE_TIMESTAMP",
    "INTERNAL_ERROR",
    "MISSING_FIELD",
    "NOT_AN_OBJECT",
    "NOT_FINITE",
    "NOT_UTF8",
    "OUT_OF_RANGE",
    "OVERSIZED",
    "REJECTION_REASONS",
    "TOO_DEEP",
    "TOO_LONG",
    "TOO_MANY",
    "TOO_MANY_EVENTS",
    "TOO_MANY_FEEDBACK",
    "UNDECODABLE",
    "UNSUPPORTED_EVENT",
    "UNWRITABLE",
    "WRONG_KIND",
    "WRONG_TYPE",
]

# A whole message
UNDECODABLE = "undecodable"  # not JSON
NOT_UTF8 = "not_utf8"  # not UTF-8, or a string with an unpaired surrogate escape
TOO_DEEP = "too_deep"  # JSON nested deeper than the decoder goes
TOO_MANY_EVENTS = "too_many_events"  # a batch longer than MAX_EVENTS_PER_MESSAGE
OVERSIZED = "oversized"  # larger than MONITOR_MAX_MESSAGE_BYTES
# One event
NOT_AN_OBJECT = "not_an_object"  # an element or message that is not a JSON object
MISSING_FIELD = "missing_field"  # a required field absent or null
WRONG_TYPE = "wrong_type"  # a value of another JSON type than its field's
EMPTY = "empty"  # an empty id
TOO_LONG = "too_long"  # a name or a text value over its limit
TOO_MANY = "too_many"  # too many features, segment keys or KPIs
BAD_NAME = "bad_name"  # a KPI name that is empty or too long
NOT_FINITE = "not_finite"  # NaN or ±Infinity
OUT_OF_RANGE = "out_of_range"  # a number outside its field's bounds
ANCIENT_TIMESTAMP = "ancient_timestamp"  # an event time before MIN_EVENT_TIME
BAD_CHOICE = "bad_choice"  # a value outside its field's choices
BAD_TIMESTAMP = "bad_timestamp"  # a string that is not RFC 3339
FUTURE_TIMESTAMP = "future_timestamp"  # further ahead of the worker clock than allowed
BAD_OTEL = "bad_otel"  # an OTel event or OTLP envelope that cannot be read
WRONG_KIND = "wrong_kind"  # an OTel GenAI event of the other kind
UNSUPPORTED_EVENT = "unsupported_event"  # an OTLP log record that is not a GenAI event
# The worker's boundary (monitor.services.isolation)
INTERNAL_ERROR = "internal_error"  # processing the message raised
UNWRITABLE = "unwritable"  # the store or an encoder refused what the message adds
# The join store (monitor.adapters.join_protocol)
TOO_MANY_FEEDBACK = (
    "too_many_feedback"  # its request holds MONITOR_MAX_FEEDBACK_PER_REQUEST already
)

REJECTION_REASONS: tuple[str, ...] = (
    UNDECODABLE,
    NOT_UTF8,
    TOO_DEEP,
    TOO_MANY_EVENTS,
    OVERSIZED,
    NOT_AN_OBJECT,
    MISSING_FIELD,
    WRONG_TYPE,
    EMPTY,
    TOO_LONG,
    TOO_MANY,
    BAD_NAME,
    NOT_FINITE,
    OUT_OF_RANGE,
    ANCIENT_TIMESTAMP,
    BAD_CHOICE,
    BAD_TIMESTAMP,
    FUTURE_TIMESTAMP,
    BAD_OTEL,
    WRONG_KIND,
    UNSUPPORTED_EVENT,
    INTERNAL_ERROR,
    UNWRITABLE,
    TOO_MANY_FEEDBACK,
)
