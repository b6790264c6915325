"""Settings errors as one line per bad value: the variable, what it got and the form it expects.

>>> from monitor.settings import Settings
>>> try:
...     Settings(partitions="x")
... except ValueError as exc:
...     print(describe_settings_error(exc, {"partitions": "env"}))
MONITOR_PARTITIONS='x': expected an integer >= 1 and <= 10000
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Literal, get_args, get_origin

from pydantic import ValidationError

from monitor.durations import MAX_SETTING_DAYS, MIN_WINDOW_SECONDS

__all__ = [
    "DURATION_FIELDS",
    "describe_settings_error",
    "expected_form",
    "number_form",
    "setting_label",
]

# The settings written as durations ("90s", "5m"): Settings validates these, and a bad one is
# described as a duration.
DURATION_FIELDS = (
    "window",
    "allowed_lateness",
    "feedback_delay",
    "idle_timeout",
    "max_future_skew",
    "join_ttl",
    "recent_version",
    "metrics_version_ttl",
    "query_timeout",
    "health_failing_after",
    "shadow_ttl",
    "judge_timeout",
    "judge_buffer_ttl",
)
# Settings of text in a form of their own: the form, as a bad value's message names it.
_TEXT_FORMS = {"shadow_margins": "metric=margin pairs, e.g. error_rate=0.01,latency_ms=100"}
# The form of every setting declared with the KAFKA_NAME pattern (topics, the app id).
_KAFKA_NAME_FORM = "a Kafka name: 1 to 200 letters, digits, '.', '_' or '-'"
_SOURCE_ERROR = re.compile(r'error parsing value for field "(\w+)"')
_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "text"}


def _bounds(metadata: list[Any]) -> str:
    words = []
    for item in metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(item, attr, None)
            if value is not None:
                words.append(f"{sign} {value}")
    return " and ".join(words)


def number_form(kind: type, least: float | None = None, most: float | None = None) -> str:
    """The form of a number of ``kind`` from ``least`` to ``most`` (None: unbounded), in the words
    of a setting's (:func:`expected_form`): what a command-line option's bounds read as too.

    >>> number_form(int, 1, 65535), number_form(float, 0.0), number_form(int)
    ('an integer >= 1 and <= 65535', 'a number >= 0.0', 'an integer')
    """
    from annotated_types import Interval

    return f"{_TYPE_WORDS.get(kind, 'a value')} {_bounds([Interval(ge=least, le=most)])}".strip()


def expected_form(name: str) -> str:
    """The form a setting expects, read from its declaration.

    >>> expected_form("join_ttl"), expected_form("batch_within"), expected_form("segment_keys")
    ('a duration like 90s, 5m, 2h, 7d, at most 365d', 'a number > 0 and <= 60', 'a JSON list, e.g. ["region"]')
    >>> expected_form("window")
    'a duration like 90s, 5m, 2h, 7d, at least 1s and at most 365d'
    >>> expected_form("judge_api_key_header")
    "one of 'authorization', 'api-key'"
    >>> expected_form("shadow_margins")
    'metric=margin pairs, e.g. error_rate=0.01,latency_ms=100'
    >>> expected_form("app_id") == expected_form("judge_topic") == _KAFKA_NAME_FORM
    True
    """
    from monitor.settings import KAFKA_NAME, Settings

    if name in DURATION_FIELDS:
        least = f"at least {MIN_WINDOW_SECONDS}s and " if name == "window" else ""
        return f"a duration like 90s, 5m, 2h, 7d, {least}at most {MAX_SETTING_DAYS}d"
    if name in _TEXT_FORMS:
        return _TEXT_FORMS[name]
    field = Settings.model_fields.get(name)
    if field is None:
        return "one of the settings in the README's configuration table"
    if any(getattr(item, "pattern", None) == KAFKA_NAME for item in field.metadata):
        return _KAFKA_NAME_FORM
    annotation = field.annotation
    origin = get_origin(annotation)
    if origin is dict or annotation is dict:
        return 'a JSON object, e.g. {"key": "value"}'
    if origin is list or annotation is list:
        return 'a JSON list, e.g. ["region"]'
    if origin is Literal:
        return "one of " + ", ".join(repr(choice) for choice in get_args(annotation))
    kinds = [a for a in (get_args(annotation) or (annotation,)) if a is not type(None)]
    word = next((_TYPE_WORDS[k] for k in kinds if k in _TYPE_WORDS), "a value")
    if any(getattr(k, "__name__", "") == "SecretStr" for k in kinds):
        word = "a URL or secret text"
    bounds = _bounds(list(field.metadata))
    return f"{word} {bounds}".strip()


def is_secret(name: str) -> bool:
    """Whether a setting holds secrets (its value is never shown).

    >>> is_secret("kafka_sasl_password"), is_secret("alert_webhook_headers"), is_secret("window")
    (True, True, False)
    """
    from monitor.settings import Settings

    field = Settings.model_fields.get(name)
    return field is not None and "SecretStr" in str(field.annotation)


def setting_label(name: str, source: str) -> str:
    """How the user wrote a setting: ``MONITOR_X`` (environment), ``file: x`` or ``x`` (passed in code)."""
    if source == "env":
        return f"MONITOR_{name.upper()}"
    if source == "override":
        return name
    return f"{source}: {name}"


def _line(error: Mapping[str, Any], sources: Mapping[str, str]) -> str:
    name = str(error["loc"][0]) if error.get("loc") else ""
    if error.get("type") == "extra_forbidden":
        return f"{setting_label(name, sources.get(name, 'env'))}: unknown setting; see the README's configuration table"
    label = setting_label(name, sources.get(name, "env"))
    value = error.get("input")
    shown = "" if isinstance(value, Mapping) else "=***" if is_secret(name) else f"={value!r}"
    detail = ""
    if len(error.get("loc") or ()) > 1 and not is_secret(name):  # an item of a list or object
        item = ".".join(map(str, error["loc"][1:]))
        shown, detail = "", f" (item {item} is {value!r:.60})"
    if error.get("type") == "value_error" and name not in DURATION_FIELDS:
        reason = str(error.get("msg", "")).removeprefix("Value error, ")
        detail = " (" + reason.removeprefix(f"MONITOR_{name.upper()}: ") + ")"
    return f"{label}{shown}: expected {expected_form(name)}{detail}"


def describe_settings_error(exc: Exception, sources: Mapping[str, str]) -> str:
    """One line per bad setting; ``sources`` maps a setting to ``env``, ``override`` or a file name."""
    if not isinstance(exc, ValidationError):
        found = _SOURCE_ERROR.search(str(exc))  # pydantic-settings: a value that is not valid JSON
        if found:
            name = found.group(1)
            value = (
                "***" if is_secret(name) else repr(os.environ.get(f"MONITOR_{name.upper()}", ""))
            )
            return f"MONITOR_{name.upper()}={value}: expected {expected_form(name)}"
        return str(exc)
    lines: dict[str, str] = {}  # one line per setting: its first bad item names it
    for error in exc.errors():
        lines.setdefault(str(error["loc"][0]) if error.get("loc") else "", _line(error, sources))
    return "\n".join(lines.values())
