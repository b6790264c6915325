"""Durations as people write them in settings and rule files: seconds, or ``90s``, ``5m``, ``2h``,
``7d``, parsed into seconds (:func:`parse_duration`).

A setting's bare number is seconds (``MONITOR_QUERY_TIMEOUT=30``); a command-line option refuses
one (:func:`bare_number`): ``--since 5`` reads as 5 minutes as easily as 5 seconds."""

from __future__ import annotations

import re

from monitor.errors import ConfigError

__all__ = ["MAX_SETTING_DAYS", "MIN_WINDOW_SECONDS", "bare_number", "parse_duration"]

# The longest duration a setting takes: a window, a TTL or a timeout of more than a year is a typo
# (a window of 10**26 days was taken, and every event dead-lettered: its length fits no column).
MAX_SETTING_DAYS = 365
# The shortest window: windows start on whole seconds.
MIN_WINDOW_SECONDS = 1

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: str | float) -> float:
    """Seconds in ``value``: a number of seconds or ``90s``, ``5m``, ``2h``, ``7d``.

    >>> parse_duration("2h"), parse_duration(30)
    (7200.0, 30.0)
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ConfigError(f"duration {value!r} is not a number of seconds or like 90s, 5m, 2h, 7d")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def bare_number(value: str) -> str | None:
    """The number ``value`` is when it has no unit (``"5"``, ``" 2.5 "``), else ``None``.

    >>> bare_number(" 5 "), bare_number("5m"), bare_number("2026-01-31")
    ('5', None, None)
    """
    match = _DURATION.match(value)
    return match.group(1) if match and match.group(2) is None else None
