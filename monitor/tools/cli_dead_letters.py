"""``monitor dead-letters``: what the workers rejected, why, and the originals to fix and replay.

The dead-letter topic (``MONITOR_DLQ_TOPIC``) is read as it stands, without a consumer group
(:mod:`monitor.adapters.topic_snapshot`); the records are read back, filtered and summarised by
:mod:`monitor.tools.dead_letters`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import IO, Annotated

import typer

from monitor.contract.dlq import DEAD_LETTER_KINDS
from monitor.contract.events import KINDS
from monitor.contract.reasons import REJECTION_REASONS
from monitor.errors import ConfigError
from monitor.settings import Settings
from monitor.tools.cli_options import ConfigOption, SinceOption, cli_settings, kafka_bootstrap
from monitor.tools.cli_run import log_throttled
from monitor.tools.cli_support import (
    EXIT_INTERRUPTED,
    Format,
    counted,
    parse_time,
    print_rows,
    require_known,
)
from monitor.tools.dead_letters import (
    DeadLetterFilter,
    DeadLetterSummary,
    OriginalsWriter,
    group_rows,
    letter_line,
    read_dead_letter,
    summary_lines,
)

__all__ = ["dead_letters"]


class LetterFormat(str, Enum):
    table = "table"
    json = "json"


def dead_letters(
    since: str | None = SinceOption,
    kind: str | None = typer.Option(None, help=f"only this kind: {', '.join(DEAD_LETTER_KINDS)}"),
    reason: str | None = typer.Option(
        None, help="only this rejection reason (docs/events.md); an unknown one lists them"
    ),
    limit: int = typer.Option(20, min=0, help="the latest records printed after the summary"),
    fmt: Annotated[
        LetterFormat,
        typer.Option(
            "--format",
            "-f",
            help="table: a summary and the latest records; json: every matching record as "
            "stored, one a line",
        ),
    ] = LetterFormat.table,
    originals: Annotated[
        Path | None,
        typer.Option(
            dir_okay=False,
            help="write the matching records' originals here (JSONL, in topic order) to fix and "
            "`monitor replay`; an existing file is not overwritten",
        ),
    ] = None,
    config: Path | None = ConfigOption,
) -> None:
    """Dead letters on MONITOR_DLQ_TOPIC: counts by kind, reason and field, then the latest records.

    Reads the topic (from --since, else all it holds) up to its end without a consumer group: nothing moves for anyone else. Events `monitor replay` rejects are never sent, so they are not here: the replay prints them itself. A topic that does not exist yet means nothing was rejected (exit 0); a bad option, an unreachable broker or --originals over both kinds without --kind exit 2, Ctrl-C 130.
    """
    require_known("--kind", kind, DEAD_LETTER_KINDS, "dead-letter kind")
    require_known("--reason", reason, REJECTION_REASONS, "rejection reason")
    wanted = DeadLetterFilter(kind, reason, parse_time(since, "--since"))
    settings = cli_settings(config)
    kafka_bootstrap(settings)
    if originals is not None and originals.exists():
        raise ConfigError(f"--originals {originals}: the file exists; not overwriting it")
    log_throttled("WARNING")
    summary = DeadLetterSummary(limit if fmt is LetterFormat.table else 0)
    try:
        with _staged(originals) as stream:
            writer = OriginalsWriter(stream) if stream is not None else None
            found = asyncio.run(_read(settings, wanted, summary, fmt, writer))
            if not found:
                typer.echo(
                    f"no dead letters: the topic {settings.dlq_topic} does not exist yet "
                    "(nothing was rejected, or MONITOR_DLQ_TOPIC names another topic)",
                    err=fmt is LetterFormat.json,  # stdout stays JSON lines
                )
                return
            _report(summary, settings.dlq_topic, wanted, fmt)
            if writer is not None and originals is not None:
                _keep_originals(writer, summary, originals, err=fmt is LetterFormat.json)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None


async def _read(
    settings: Settings,
    wanted: DeadLetterFilter,
    summary: DeadLetterSummary,
    fmt: LetterFormat,
    writer: OriginalsWriter | None,
) -> bool:
    """Fold the topic's matching dead letters into ``summary`` (printing them as JSON lines and
    writing their originals as asked); False when the topic does not exist."""
    from monitor.adapters.broker_check import check_broker
    from monitor.adapters.topic_snapshot import NoSuchTopic, read_topic_snapshot

    await check_broker(settings)
    records = read_topic_snapshot(settings, settings.dlq_topic, since=wanted.since)
    try:
        async with contextlib.aclosing(records):
            async for record in records:
                letter = read_dead_letter(record.value)
                if letter is None:
                    if wanted.since is None or (record.timestamp or 0.0) >= wanted.since:
                        summary.count_unreadable()
                    continue
                if not wanted.matches(letter):
                    continue
                summary.update(letter)
                if fmt is LetterFormat.json:
                    typer.echo(letter.record.decode())
                if writer is not None:
                    writer.add(letter)
    except NoSuchTopic:
        return False
    return True


def _report(
    summary: DeadLetterSummary, topic: str, wanted: DeadLetterFilter, fmt: LetterFormat
) -> None:
    """The summary (on stderr under --format json, whose stdout is the records) and the latest records."""
    to_stderr = fmt is LetterFormat.json
    for line in summary_lines(summary, topic, wanted):
        typer.echo(line, err=to_stderr)
    if to_stderr or not summary.records:
        return
    columns, rows, rest = group_rows(summary)
    print_rows(columns, rows, Format.table)
    if rest:
        typer.echo(rest)
    latest = summary.latest()
    if latest:
        typer.echo(f"\nthe latest {len(latest)} of {summary.records}:")
        for letter in latest:
            typer.echo(letter_line(letter))


@contextlib.contextmanager
def _staged(path: Path | None) -> Iterator[IO[bytes] | None]:
    """A file beside ``path`` to write the originals to; whatever was not moved to ``path`` (an
    error, Ctrl-C, nothing to write) is removed on leaving."""
    if path is None:
        yield None
        return
    if not path.parent.is_dir():
        raise ConfigError(f"--originals {path}: no directory {path.parent}")
    stream = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed and removed below
        dir=path.parent, prefix=f".{path.name}.", suffix=".partial", delete=False
    )
    try:
        with stream:
            yield stream
    finally:
        Path(stream.name).unlink(missing_ok=True)


def _keep_originals(
    writer: OriginalsWriter, summary: DeadLetterSummary, path: Path, *, err: bool
) -> None:
    """Move the staged originals to ``path`` when they are of one kind ``monitor replay`` takes;
    what was done is said on stderr when ``err`` (stdout is the records)."""
    kinds = sorted(summary.kinds)
    if len(kinds) > 1:
        raise ConfigError(
            f"--originals: the matching dead letters hold {', '.join(kinds)}; choose one with "
            "--kind (`monitor replay` publishes one kind)"
        )
    if kinds and kinds[0] not in KINDS:
        raise ConfigError(
            f"--originals: {kinds[0]} dead letters are not events `monitor replay` publishes "
            f"({', '.join(KINDS)})"
        )
    left_out = (
        f"; {writer.binary} not UTF-8 left out (their original_base64 is in --format json)"
        if writer.binary
        else ""
    )
    if writer.truncated:
        left_out += (
            f"; {writer.truncated} cut short left out (larger than a dead letter holds: their "
            "source topic/partition/offset is where to read them whole)"
        )
    if not writer.written:
        typer.echo(f"no original to write{left_out}: {path} not written", err=err)
        return
    writer.stream.flush()
    os.replace(writer.stream.name, path)
    joined = (
        f"; {writer.joined} spanned several lines: their line breaks are spaces"
        if writer.joined
        else ""
    )
    typer.echo(f"wrote {counted(writer.written, 'original')} to {path}{left_out}{joined}", err=err)
    typer.echo(f"fix them, then: monitor replay {path} --kind {kinds[0]}", err=err)
