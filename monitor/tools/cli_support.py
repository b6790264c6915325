"""What every ``monitor`` command shares: one-line errors with exit code 2, times, known values, tables."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

import typer
from typer.core import TyperGroup

from monitor.contract.timestamps import epoch_seconds
from monitor.durations import MAX_SETTING_DAYS, bare_number, parse_duration
from monitor.errors import ConfigError, MonitorError
from monitor.wording import counted

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "LONGEST_OPTION",
    "TIME_RANGE",
    "Format",
    "MonitorGroup",
    "UnknownValue",
    "counted",
    "log_level",
    "not_utf8",
    "number_option_error",
    "parse_duration_option",
    "parse_time",
    "print_rows",
    "require_known",
]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as a shell reports it
EXIT_TERMINATED = 143  # SIGTERM (128 + 15)


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class UnknownValue(ConfigError):
    """A filter names something the monitor does not know; the message lists what it knows."""


class MonitorGroup(TyperGroup):
    """Every command's :class:`MonitorError` becomes ``error: <message>`` on stderr and exit code 2,
    and so does a command-line value that is not UTF-8 text (:func:`not_utf8`) or a number option's
    value outside its bounds (:func:`number_option_error`)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        problem = not_utf8(args)
        if problem is not None:
            typer.echo(f"error: {problem}", err=True)
            raise typer.Exit(EXIT_USAGE)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        from pydantic import ValidationError

        try:
            return super().invoke(ctx)
        except MonitorError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_USAGE) from None
        except typer.BadParameter as exc:  # Typer's boxed error, unless a number is what is wrong
            problem = number_option_error(exc)
            if problem is None:
                raise
            typer.echo(f"error: {problem}", err=True)
            raise typer.Exit(EXIT_USAGE) from None
        except ValidationError as exc:  # settings built in code: still one line per bad value
            from monitor.settings_errors import describe_settings_error

            typer.echo(f"error: {describe_settings_error(exc, {})}", err=True)
            raise typer.Exit(EXIT_USAGE) from None


def not_utf8(args: Sequence[str]) -> str | None:
    r"""What is wrong with the first of ``args`` that is not UTF-8 text (Python keeps such bytes of
    the command line as surrogates, which no store, topic or file name can hold), naming its option.

    >>> print(not_utf8(["query", "metrics", "--model", "m" + chr(0xDCFF)]))
    --model 'm\xff': not UTF-8 text
    >>> print(not_utf8(["--id=" + chr(0xDCFE)])), not_utf8(["baseline", "show", "é"])
    --id '\xfe': not UTF-8 text
    (None, None)
    """
    for i, arg in enumerate(args):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            option, _, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
            if not option:
                before = args[i - 1] if i else ""
                option = before if before.startswith("-") else "an argument"
            shown = value.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
            return f"{option} '{shown}': not UTF-8 text"
    return None


def number_option_error(exc: typer.BadParameter) -> str | None:
    """What a number option refused (a value outside its bounds, or not a number) in one line
    naming the option, the value and the form it takes, as a setting's error does (``--limit '0':
    expected an integer >= 1 and <= 1000000000``); None when another parameter is wrong."""
    from pydantic import ValidationError

    from monitor.settings_errors import number_form

    param = exc.param
    kind = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if param is None or param.param_type_name != "option" or kind not in (int, float):
        return None
    cause = exc.__cause__  # Typer checks the value with pydantic, which keeps what it was given
    errors = cause.errors() if isinstance(cause, ValidationError) else []
    value = f" {errors[0]['input']!r}" if errors and "input" in errors[0] else ""
    option = max(param.opts, key=len)
    bounds = getattr(param, "min", None), getattr(param, "max", None)
    return f"{option}{value}: expected {number_form(kind, *bounds)}"


# The times --since and --until take: events are after the epoch, and a datetime ends in 9999.
EARLIEST_TIME = 0.0  # 1970-01-01T00:00:00Z
TIME_LIMIT = 253_402_300_800.0  # 10000-01-01T00:00:00Z, the first moment after
TIME_RANGE = "between 1970-01-01 and 9999-12-31 (UTC)"


def parse_time(value: str | None, option: str) -> float | None:
    """Epoch seconds of ``value``: a duration back from now (``90m``, ``2h``, ``7d``) or an ISO time.

    >>> parse_time("2026-01-01T00:00:00", "--since")
    1767225600.0
    >>> parse_time("yesterday", "--since")
    Traceback (most recent call last):
    ...
    monitor.errors.ConfigError: --since 'yesterday': expected a duration back from now (90m, 2h, 7d) \
or an ISO time (2026-01-31 or 2026-01-31T12:00:00, UTC unless it has an offset)
    >>> parse_time("5", "--since")
    Traceback (most recent call last):
    ...
    monitor.errors.ConfigError: --since '5': a duration needs a unit: 5s, 5m or 5h (or an ISO time)
    >>> parse_time("100000d", "--since")
    Traceback (most recent call last):
    ...
    monitor.errors.ConfigError: --since '100000d': the time must fall between 1970-01-01 and 9999-12-31 (UTC)
    """
    if value is None:
        return None
    _refuse_bare_number(value, option, "or an ISO time")
    try:
        seconds = time.time() - parse_duration(value)
    except MonitorError:
        seconds = _iso_seconds(value, option)
    if not EARLIEST_TIME <= seconds < TIME_LIMIT:
        raise ConfigError(f"{option} {value!r}: the time must fall {TIME_RANGE}")
    return seconds


def _iso_seconds(value: str, option: str) -> float:
    """Epoch seconds of an ISO time; one that no calendar can hold counts as out of range."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{option} {value!r}: expected a duration back from now (90m, 2h, 7d) or an ISO time "
            "(2026-01-31 or 2026-01-31T12:00:00, UTC unless it has an offset)"
        ) from None
    try:
        return epoch_seconds(parsed)
    except (OverflowError, ValueError):  # year 1 with a positive offset: before year 1 in UTC
        raise ConfigError(f"{option} {value!r}: the time must fall {TIME_RANGE}") from None


def _refuse_bare_number(value: str, option: str, besides: str = "") -> None:
    """A one-line error for a duration without a unit, which could mean seconds or minutes (a
    zero means the same in any unit)."""
    number = bare_number(value)
    if number is not None and float(number) != 0:
        raise ConfigError(
            f"{option} {value!r}: a duration needs a unit: {number}s, {number}m or {number}h"
            + (f" ({besides})" if besides else "")
        )


# The longest a duration option takes unless it says otherwise: a setting's longest.
LONGEST_OPTION = f"{MAX_SETTING_DAYS}d"


def parse_duration_option(
    value: str, option: str, longest: str = LONGEST_OPTION, shortest: float = 0.0
) -> float:
    """Seconds of a duration option from ``shortest`` seconds to ``longest``, or a one-line error
    naming the option.

    >>> parse_duration_option("5 minutes", "--window")
    Traceback (most recent call last):
    ...
    monitor.errors.ConfigError: --window '5 minutes': expected a duration like 10s, 5m, 2h, 7d
    >>> parse_duration_option("300", "--window")
    Traceback (most recent call last):
    ...
    monitor.errors.ConfigError: --window '300': a duration needs a unit: 300s, 300m or 300h
    >>> parse_duration_option("400d", "--window")
    Traceback (most recent call last):
    ...
    monitor.errors.ConfigError: --window '400d': at most 365d
    >>> parse_duration_option("500ms", "--window", shortest=1)
    Traceback (most recent call last):
    ...
    monitor.errors.ConfigError: --window '500ms': at least 1s
    """
    _refuse_bare_number(value, option)
    try:
        seconds = parse_duration(value)
    except MonitorError:
        raise ConfigError(f"{option} {value!r}: expected a duration like 10s, 5m, 2h, 7d") from None
    if seconds > parse_duration(longest):
        raise ConfigError(f"{option} {value!r}: at most {longest}")
    if seconds < shortest:
        raise ConfigError(f"{option} {value!r}: at least {shortest:g}s")
    return seconds


# What --loglevel takes, in any case: logging's names and Faust's crit and warn.
LOG_LEVELS = {
    "critical": "CRITICAL",
    "crit": "CRITICAL",
    "error": "ERROR",
    "warning": "WARNING",
    "warn": "WARNING",
    "info": "INFO",
    "debug": "DEBUG",
}


def log_level(value: str, option: str = "--loglevel") -> str:
    """The :mod:`logging` level ``value`` names, or a one-line error naming the option.

    >>> log_level("warn"), log_level("Debug")
    ('WARNING', 'DEBUG')
    >>> log_level("loud")
    Traceback (most recent call last):
    ...
    monitor.errors.ConfigError: --loglevel 'loud': one of critical, error, warning, info, debug
    """
    try:
        return LOG_LEVELS[value.lower()]
    except KeyError:
        names = ", ".join(dict.fromkeys(LOG_LEVELS.values())).lower()
        raise ConfigError(f"{option} {value!r}: one of {names}") from None


def require_known(
    option: str, value: str | None, known: Iterable[str], what: str, hint: str = ""
) -> None:
    """Raise :class:`UnknownValue` when ``value`` is given and not among ``known``.

    >>> require_known("--status", "fired", ["firing", "resolved"], "alert status")
    Traceback (most recent call last):
    ...
    monitor.tools.cli_support.UnknownValue: --status 'fired' is not a known alert status; known: firing, resolved
    """
    if value is None:
        return
    choices = sorted({str(k) for k in known})
    if value in choices:
        return
    listed = ", ".join(repr(c) if c == "" else c for c in choices) if choices else "none yet"
    raise UnknownValue(f"{option} {value!r} is not a known {what}; known: {listed}{hint}")


def _cell(v: Any) -> Any:
    """A value as JSON and CSV carry it: times as UTC text, numbers as stored."""
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return v


def _table_text(v: Any) -> str:
    """A cell as a table prints it: a whole float as an integer (counts are stored as floats),
    others to six decimals, or three significant digits below a millionth (never a bare 0).

    >>> _table_text(273.0), _table_text(0.890943219), _table_text(None), _table_text("v1")
    ('273', '0.890943', '', 'v1')
    >>> _table_text(3.2e-09), _table_text(-0.0)
    ('3.2e-09', '0')
    """
    if v is None:
        return ""
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        if 0 < abs(v) < 1e-6:
            return f"{v:.3g}"
        return str(round(v, 6))
    return str(v)


# Cells longer than this (free text: a reason, a detail) fold to fit the table's width; others never.
FOLDED_TEXT = 40


def print_rows(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    fmt: Format,
    *,
    title: str | None = None,
    numeric: Collection[str] = (),
) -> None:
    """Rows as an aligned table (rich), JSON (a list of objects) or CSV with a header. A table
    right-aligns the columns of numbers and the ``numeric`` ones (numbers already printed as text),
    and escapes what a terminal would act on (:func:`~monitor.tools.terminal.terminal_text`)."""
    data = [[_cell(v) for v in row] for row in rows]
    if fmt is Format.json:
        typer.echo(json.dumps([dict(zip(columns, r)) for r in data], default=str, indent=1))
        return
    if fmt is Format.csv:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows(data)
        typer.echo(out.getvalue().rstrip("\n"))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from monitor.tools.terminal import terminal_text

    table = Table(title=title, box=None, header_style="bold", pad_edge=False)
    texts = [[terminal_text(_table_text(v)) for v in r] for r in data]
    # names, times and numbers stay whole (the table is as wide as they need); only free text
    # longer than FOLDED_TEXT folds, when the terminal is narrower than the table
    needed = 2 * (len(columns) - 1)  # the padding between columns
    for j, column in enumerate(columns):
        right = column in numeric or (
            bool(data) and all(isinstance(r[j], (int, float)) or r[j] is None for r in data)
        )
        widest = max([len(column), *(len(r[j]) for r in texts)])
        needed += min(widest, FOLDED_TEXT)
        table.add_column(
            column,
            justify="right" if right else "left",
            overflow="fold",
            no_wrap=widest <= FOLDED_TEXT,
        )
    for r in texts:  # Text: a value is shown as it is, never read as rich markup
        table.add_row(*(Text(v) for v in r))
    console = Console(width=max(200, Console().width, needed), soft_wrap=True)
    console.print(table)
    typer.echo(f"({counted(len(data), 'row')})")
