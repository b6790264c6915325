"""The options and settings loading that the ``monitor`` commands share.

>>> time_window("2026-01-01T00:00:00", None)
{'since': 1767225600.0, 'until': None}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

import typer

from monitor.errors import ConfigError
from monitor.settings import Settings, load_settings
from monitor.tools.cli_support import TIME_RANGE, Format, parse_time

__all__ = [
    "MAX_LIMIT",
    "ConfigOption",
    "FormatOption",
    "LimitOption",
    "ModelOption",
    "SinceOption",
    "StatusOption",
    "TimeWindow",
    "UntilOption",
    "VersionOption",
    "cli_settings",
    "kafka_bootstrap",
    "setting_range",
    "time_window",
]

ConfigOption = typer.Option(
    None, "--config", "-c", help="TOML or YAML settings file (keys without MONITOR_)"
)

ModelOption = typer.Option(None, "--model", help="only this model (must be one the store has seen)")
VersionOption = typer.Option(
    None, "--version", help="only this model version (must be one the store has seen)"
)
SinceOption = typer.Option(
    None,
    "--since",
    help="from a duration back from now, with its unit (90m, 2h, 7d), or an ISO time; "
    + TIME_RANGE,
)
UntilOption = typer.Option(
    None,
    "--until",
    help="before a duration back from now, with its unit (30m, 1d), or an ISO time; " + TIME_RANGE,
)
# A LIMIT the store reads as a number (10**400 reached ClickHouse as a syntax error).
MAX_LIMIT = 1_000_000_000
LimitOption = typer.Option(10_000, "--limit", min=1, max=MAX_LIMIT, help="at most this many rows")
FormatOption = typer.Option(Format.table, "--format", "-f", help="table (aligned), json or csv")
StatusOption = typer.Option(
    None, "--status", help="firing, resolved, or one way to resolve: cleared or superseded"
)


def setting_range(name: str) -> dict[str, Any]:
    """``min`` and ``max`` for an option that stands for setting ``name``: the setting's bounds.

    >>> setting_range("drift_bins")
    {'min': 2, 'max': 100}
    """
    bounds: dict[str, Any] = {}
    for rule in Settings.model_fields[name].metadata:
        if getattr(rule, "ge", None) is not None:
            bounds["min"] = rule.ge
        if getattr(rule, "le", None) is not None:
            bounds["max"] = rule.le
    return bounds


def cli_settings(config: Path | None, **overrides: Any) -> Settings:
    """The settings of ``config`` and the environment, with the options given (not None) on top."""
    return load_settings(config, **{k: v for k, v in overrides.items() if v is not None})


def kafka_bootstrap(settings: Settings) -> str:
    """``MONITOR_KAFKA_BOOTSTRAP``, for a command that reads or writes Kafka; a one-line error when unset."""
    if not settings.kafka_bootstrap:
        raise ConfigError("set MONITOR_KAFKA_BOOTSTRAP (e.g. 127.0.0.1:9092, see `monitor broker`)")
    return settings.kafka_bootstrap


class TimeWindow(TypedDict):
    since: float | None
    until: float | None


def time_window(since: str | None, until: str | None) -> TimeWindow:
    """``--since`` and ``--until`` as epoch seconds, the keyword arguments of the queries."""
    return {"since": parse_time(since, "--since"), "until": parse_time(until, "--until")}
