"""Event-time parsing: RFC 3339 strings, epoch seconds or epoch milliseconds to float seconds."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from monitor.contract.fields import TIMESTAMP_PATTERN
from monitor.contract.reasons import BAD_TIMESTAMP, NOT_FINITE, OUT_OF_RANGE, WRONG_TYPE
from monitor.errors import InvalidEvent

__all__ = ["MILLIS_THRESHOLD", "epoch_seconds", "parse_timestamp", "utc_datetime", "utc_text"]

# Epoch numbers above this are milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
MILLIS_THRESHOLD = 1e11


def parse_timestamp(value: object, field: str = "timestamp") -> float:
    """Return epoch seconds for an RFC 3339 string or an epoch number (s or ms).

    >>> parse_timestamp("2026-01-01T00:00:00Z")
    1767225600.0
    >>> parse_timestamp(1767225600000)
    1767225600.0
    """
    if isinstance(value, bool):
        raise InvalidEvent(
            WRONG_TYPE, field, f"expected RFC 3339 string or epoch number, got bool {value}"
        )
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:
            raise InvalidEvent(OUT_OF_RANGE, field, f"{str(value)[:40]} is too large") from None
        if not math.isfinite(seconds):
            raise InvalidEvent(NOT_FINITE, field, f"{value} is not a finite number")
        if seconds >= MILLIS_THRESHOLD:
            seconds /= 1000.0
        if seconds <= 0:
            raise InvalidEvent(OUT_OF_RANGE, field, f"{value} is not after 1970-01-01")
        return seconds
    if isinstance(value, str):
        if not TIMESTAMP_PATTERN.fullmatch(value):
            raise InvalidEvent(BAD_TIMESTAMP, field, f"{value[:64]!r} is not an RFC 3339 time")
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidEvent(
                BAD_TIMESTAMP, field, f"{value[:64]!r} is not an RFC 3339 time"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            seconds = parsed.timestamp()
        except (OverflowError, ValueError, OSError):  # e.g. year 1 with a positive UTC offset
            raise InvalidEvent(
                OUT_OF_RANGE, field, f"{value[:64]!r} is not after 1970-01-01"
            ) from None
        if seconds <= 0:
            raise InvalidEvent(OUT_OF_RANGE, field, f"{value[:64]!r} is not after 1970-01-01")
        return seconds
    raise InvalidEvent(
        WRONG_TYPE, field, f"expected RFC 3339 string or epoch number, got {type(value).__name__}"
    )


def utc_datetime(seconds: float) -> datetime:
    """An aware UTC datetime for epoch seconds: how store parameters of type DateTime64 are passed.

    >>> utc_datetime(1767225600.5).isoformat()
    '2026-01-01T00:00:00.500000+00:00'
    """
    return datetime.fromtimestamp(seconds, tz=UTC)


def utc_text(seconds: float) -> str:
    """``2026-01-01 00:00:00``: epoch seconds as people read them (UTC); a number no calendar
    holds, as itself.

    >>> utc_text(1767225600.9), utc_text(1e300)
    ('2026-01-01 00:00:00', '1e+300')
    """
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return f"{seconds:g}"


def epoch_seconds(moment: datetime | str) -> float:
    """Epoch seconds of a datetime or an ISO 8601 string; a naive one (as the store returns them) is UTC.

    >>> epoch_seconds(datetime(2026, 1, 1)), epoch_seconds(utc_datetime(5.0)), epoch_seconds("1970-01-01 00:00:07")
    (1767225600.0, 5.0, 7.0)
    """
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
