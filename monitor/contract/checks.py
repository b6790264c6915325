"""Checks of single field values that the compiled validators call: each returns the value or raises.

Every check raises :class:`~monitor.errors.InvalidEvent` naming the field, the bad value and what is
allowed; :mod:`monitor.contract.validator` compiles calls to them from the records' field specs.

>>> _opt_int({"turn": 3.0}, "turn", 0)
3
>>> _choice({"thumbs": "sideways"}, "thumbs", ("up", "down"), None)
Traceback (most recent call last):
...
monitor.errors.InvalidEvent: thumbs: 'sideways' is not one of up, down
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
)
from monitor.contract.inference import FeatureValue
from monitor.contract.reasons import (
    ANCIENT_TIMESTAMP,
    BAD_CHOICE,
    BAD_NAME,
    EMPTY,
    FUTURE_TIMESTAMP,
    MISSING_FIELD,
    NOT_FINITE,
    NOT_UTF8,
    OUT_OF_RANGE,
    TOO_LONG,
    TOO_MANY,
    WRONG_TYPE,
)
from monitor.contract.timestamps import parse_timestamp
from monitor.errors import InvalidEvent

# Private names: only the compiled validators call these (through this module's namespace).
__all__ = ["WORKER_CLOCK"]

# Whose clock a future_timestamp is measured by: a worker's, in its dead letters. A tool that checks
# events before it sends them (monitor replay) names its own clock instead.
WORKER_CLOCK = "the worker clock"


def _require(obj: Mapping[str, Any], name: str) -> Any:
    if name not in obj or obj[name] is None:
        raise InvalidEvent(MISSING_FIELD, name, "is required")
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
                NOT_UTF8,
                _printable(name),
                f"lone surrogate U+{ord(value[exc.start]):04X} at "
                f"character {exc.start}; strings must be valid Unicode (no unpaired \\ud800-\\udfff "
                "escapes)",
            ) from None
    return value


def _string(value: Any, name: str, *, max_length: int = MAX_ID_LENGTH) -> str:
    if not isinstance(value, str):
        raise InvalidEvent(
            WRONG_TYPE, name, f"expected string, got {type(value).__name__} {value!r:.40}"
        )
    if not value:
        raise InvalidEvent(EMPTY, name, "must not be empty")
    if len(value) > max_length:
        raise InvalidEvent(TOO_LONG, name, f"{len(value)} characters, at most {max_length}")
    return _unicode(value, name)


def _key(key: str, name: str) -> str:
    """A feature or segment name: at most MAX_ID_LENGTH characters of valid Unicode."""
    if len(key) > MAX_ID_LENGTH:
        raise InvalidEvent(
            TOO_LONG,
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
        raise InvalidEvent(OUT_OF_RANGE, name, f"{shown} is outside {low}–{high}{bits}")
    return value


def _opt_string(obj: Mapping[str, Any], name: str, max_length: int = MAX_ID_LENGTH) -> str | None:
    value = obj.get(name)
    return None if value is None else _string(value, name, max_length=max_length)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidEvent(
            WRONG_TYPE, name, f"expected number, got {type(value).__name__} {value!r:.40}"
        )
    try:
        number = float(value)
    except OverflowError:
        raise InvalidEvent(OUT_OF_RANGE, name, f"{str(value)[:40]} is too large") from None
    if not math.isfinite(number):
        raise InvalidEvent(NOT_FINITE, name, f"{value} is not a finite number")
    if not -MAX_NUMBER < number < MAX_NUMBER:
        raise InvalidEvent(OUT_OF_RANGE, name, f"{number:g} is outside ±{MAX_NUMBER:g}")
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
            OUT_OF_RANGE,
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
            WRONG_TYPE, name, f"expected integer, got {type(value).__name__} {value!r:.40}"
        )
    return _int64(value, name, low, COUNT_MAX if high is None else high)


def _opt_bool(obj: Mapping[str, Any], name: str) -> bool | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidEvent(
            WRONG_TYPE, name, f"expected true or false, got {type(value).__name__} {value!r:.40}"
        )
    return value


def _scalar(value: Any, name: str) -> FeatureValue:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if len(value) > MAX_FEATURE_TEXT:
            raise InvalidEvent(
                TOO_LONG, name, f"{len(value)} characters, at most {MAX_FEATURE_TEXT}"
            )
        return _unicode(value, name)
    if isinstance(value, int):
        return _int64(value, name)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidEvent(
                NOT_FINITE,
                name,
                f"{value} is not a finite number (send null for a missing value)",
            )
        if not -MAX_NUMBER < value < MAX_NUMBER:
            raise InvalidEvent(OUT_OF_RANGE, name, f"{str(value)[:40]} is outside ±{MAX_NUMBER:g}")
        return value
    raise InvalidEvent(
        WRONG_TYPE, name, f"expected number, string, bool or null, got {type(value).__name__}"
    )


_CHECKED_FEATURE_NAMES: set[str] = set()  # feature names that passed _key: not checked again
_MAX_CHECKED_NAMES = 10_000  # past it, names of new features are checked on every event


def _features(obj: Mapping[str, Any]) -> Mapping[str, FeatureValue]:
    raw = obj.get("features")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidEvent(WRONG_TYPE, "features", f"expected object, got {type(raw).__name__}")
    if len(raw) > MAX_FEATURES:
        raise InvalidEvent(TOO_MANY, "features", f"{len(raw)} features, at most {MAX_FEATURES}")
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
        raise InvalidEvent(WRONG_TYPE, "segment", f"expected object, got {type(raw).__name__}")
    if len(raw) > MAX_SEGMENTS:
        raise InvalidEvent(TOO_MANY, "segment", f"{len(raw)} keys, at most {MAX_SEGMENTS}")
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
        raise InvalidEvent(WRONG_TYPE, "kpi", f"expected object, got {type(raw).__name__}")
    if len(raw) > MAX_FEATURES:
        raise InvalidEvent(TOO_MANY, "kpi", f"{len(raw)} KPIs, at most {MAX_FEATURES}")
    out = {}
    for key, value in raw.items():
        if not key or len(key) > MAX_ID_LENGTH:
            raise InvalidEvent(
                BAD_NAME, "kpi", f"KPI names are 1 to {MAX_ID_LENGTH} characters, got {key!r:.40}"
            )
        _unicode(key, f"kpi.{_printable(key)}")
        number = _number(value, f"kpi.{key}")
        if not -MAX_NUMBER < number < MAX_NUMBER:
            raise InvalidEvent(
                OUT_OF_RANGE, f"kpi.{key}", f"{str(value)[:40]} is outside ±{MAX_NUMBER:g}"
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
            ANCIENT_TIMESTAMP,
            "timestamp",
            f"{shown} is before {floor}, the earliest event time "
            "accepted (a zero or a unit mistake?)",
        )
    if timestamp > now + max_future_skew:
        ahead = timestamp - now
        raise InvalidEvent(
            FUTURE_TIMESTAMP,
            "timestamp",
            f"{ahead:.0f} s ahead of {WORKER_CLOCK} (at most {max_future_skew:.0f} s)",
        )
    return timestamp


def _prediction(value: Any, name: str) -> str | float | int | bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if len(value) > MAX_FEATURE_TEXT:
            raise InvalidEvent(
                TOO_LONG, name, f"{len(value)} characters, at most {MAX_FEATURE_TEXT}"
            )
        return _unicode(value, name)
    if isinstance(value, (int, float)):
        return _number(value, name) if isinstance(value, float) else _int64(value, name)
    raise InvalidEvent(
        WRONG_TYPE, name, f"expected string, number or bool, got {type(value).__name__}"
    )


def _choice(obj: Mapping[str, Any], name: str, choices: tuple[str, ...], default: Any) -> Any:
    value = obj.get(name)
    if value is None:
        return default
    if value not in choices:
        raise InvalidEvent(BAD_CHOICE, name, f"{value!r:.40} is not one of {', '.join(choices)}")
    return value


def _container(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidEvent(WRONG_TYPE, key, f"expected object, got {type(value).__name__}")
    return value
