"""What ``monitor dead-letters`` makes of the dead-letter topic: records read back, filtered,
summarised, printed one a line and their originals written for ``monitor replay``.

A record is read back only when it has the shape :func:`monitor.contract.dlq.dead_letter_record`
writes; anything else on the topic (another writer's bytes) is *unreadable*: counted, never fatal.
What is printed went through :func:`~monitor.tools.terminal.terminal_text`: an original may be huge
or hold escape sequences.

>>> from monitor.contract.decode import Rejection
>>> from monitor.contract.dlq import dead_letter_record
>>> raw = dead_letter_record("monitor.feedback", 2, 41, "feedback",
...                          Rejection("out_of_range", "rating", "7 is outside 1–5", 0,
...                                    b'{"request_id": "r1", "rating": 7}'), now=1767225600)
>>> letter = read_dead_letter(raw)
>>> print(letter_line(letter))
2026-01-01 00:00:00  feedback  out_of_range  rating  rating: 7 is outside 1–5  \
(monitor.feedback/2/41/0)  {"request_id": "r1", "rating": 7}
>>> read_dead_letter(b"\\x1b[2J not a dead letter") is None
True
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from dataclasses import dataclass
from typing import IO, Any

import orjson

from monitor.contract.dlq import DEAD_LETTER_KINDS, dead_letter_key
from monitor.contract.timestamps import utc_text
from monitor.tools.cli_support import counted
from monitor.tools.terminal import terminal_text

__all__ = [
    "MAX_GROUPS",
    "DeadLetter",
    "DeadLetterFilter",
    "DeadLetterSummary",
    "OriginalsWriter",
    "group_rows",
    "letter_line",
    "read_dead_letter",
    "summary_lines",
]

ORIGINAL_SHOWN = 120  # characters of an original on a record's line
ERROR_SHOWN = 200  # characters of an error (the worker caps details at 300)
MAX_GROUPS = 10_000  # (kind, reason, field) groups counted apart; field names come from producers
_TEXT_KEYS = ("reason", "field", "error", "kind")
_SOURCE_INTS = ("partition", "offset", "index")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter as the worker wrote it; ``record`` is the whole record, on one line."""

    reason: str
    field: str
    error: str
    kind: str
    source_topic: str
    source_partition: int
    source_offset: int
    source_index: int
    rejected_at: float
    original: str | None
    original_base64: str | None
    record: bytes
    original_truncated: bool = False  # cut short to fit a Kafka record: read it whole at its source

    @property
    def source(self) -> str:
        """``topic/partition/offset/index``, the dead letter's key."""
        return dead_letter_key(
            self.source_topic, self.source_partition, self.source_offset, self.source_index
        ).decode()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _one_original(text: Any, base64: Any) -> bool:
    """The worker writes the original as text, or as base64 when it is not UTF-8: one of them."""
    return (isinstance(text, str) and base64 is None) or (text is None and isinstance(base64, str))


def read_dead_letter(value: bytes | None) -> DeadLetter | None:
    """The dead letter in a record's ``value``, or None when the value is not one: not JSON, or
    not of the shape and kinds :func:`~monitor.contract.dlq.dead_letter_record` writes."""
    try:
        obj = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    source, at = obj.get("source"), obj.get("rejected_at")
    if (
        not all(isinstance(obj.get(key), str) for key in _TEXT_KEYS)
        or obj["kind"] not in DEAD_LETTER_KINDS
        or not isinstance(source, dict)
        or not isinstance(source.get("topic"), str)
        or not all(_is_int(source.get(key)) for key in _SOURCE_INTS)
        or not isinstance(at, int | float)
        or isinstance(at, bool)
        or not math.isfinite(at)
        or not _one_original(obj.get("original"), obj.get("original_base64"))
    ):
        return None
    return DeadLetter(
        obj["reason"],
        obj["field"],
        obj["error"],
        obj["kind"],
        source["topic"],
        source["partition"],
        source["offset"],
        source["index"],
        float(at),
        obj.get("original"),
        obj.get("original_base64"),
        orjson.dumps(obj),
        obj.get("original_truncated") is True,
    )


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead letters a run is about: a kind, a reason, rejected at or after ``since``."""

    kind: str | None = None
    reason: str | None = None
    since: float | None = None

    def matches(self, letter: DeadLetter) -> bool:
        return (
            (self.kind is None or letter.kind == self.kind)
            and (self.reason is None or letter.reason == self.reason)
            and (self.since is None or letter.rejected_at >= self.since)
        )

    def describe(self) -> str:
        """The filters given, as options: ``--kind feedback --since 2026-01-01 00:00:00``."""
        parts = [f"--kind {self.kind}"] if self.kind else []
        parts += [f"--reason {self.reason}"] if self.reason else []
        parts += [f"--since {utc_text(self.since)}"] if self.since is not None else []
        return " ".join(parts)


class DeadLetterSummary:
    """Counts by kind and by (kind, reason, field), the first and last rejection time, the
    ``limit`` latest dead letters and how many records were unreadable; ``update`` folds one in.

    >>> from monitor.contract.decode import Rejection
    >>> from monitor.contract.dlq import dead_letter_record
    >>> def letter(reason, at):
    ...     return read_dead_letter(dead_letter_record(
    ...         "t", 0, at, "inference", Rejection(reason, "model", "bad", -1, b"{}"), now=at))
    >>> summary = DeadLetterSummary(limit=2)
    >>> for reason, at in [("wrong_type", 30), ("empty", 10), ("wrong_type", 20)]:
    ...     _ = summary.update(letter(reason, at))
    >>> summary.count_unreadable()
    >>> summary.records, summary.unreadable, summary.first, summary.last
    (3, 1, 10.0, 30.0)
    >>> summary.groups.most_common(1), [d.rejected_at for d in summary.latest()]
    ([(('inference', 'wrong_type', 'model'), 2)], [20.0, 30.0])
    """

    def __init__(self, limit: int = 20) -> None:
        if limit < 0:
            raise ValueError(f"limit: {limit} must be 0 or more")
        self.limit = limit
        self.records = 0
        self.unreadable = 0
        self.first: float | None = None
        self.last: float | None = None
        self.kinds: Counter[str] = Counter()
        self.groups: Counter[tuple[str, str, str]] = Counter()
        self._latest: list[tuple[float, int, DeadLetter]] = []

    def update(self, letter: DeadLetter) -> DeadLetterSummary:
        at = letter.rejected_at
        self.records += 1
        self.first = at if self.first is None else min(self.first, at)
        self.last = at if self.last is None else max(self.last, at)
        self.kinds[letter.kind] += 1
        group = (letter.kind, letter.reason, letter.field)
        if group in self.groups or len(self.groups) < MAX_GROUPS:  # the rest: "other groups"
            self.groups[group] += 1
        entry = (at, self.records, letter)  # the count breaks ties: read order
        if len(self._latest) < self.limit:
            heapq.heappush(self._latest, entry)
        elif self.limit and entry > self._latest[0]:
            heapq.heapreplace(self._latest, entry)
        return self

    def count_unreadable(self) -> None:
        self.unreadable += 1

    def latest(self) -> list[DeadLetter]:
        """The ``limit`` latest dead letters, oldest first."""
        return [letter for _, _, letter in sorted(self._latest)]


def _original_start(letter: DeadLetter) -> str:
    if letter.original_truncated:
        return "(cut short: the whole original is at its source offset while the topic keeps it)"
    if letter.original is not None:
        return terminal_text(letter.original, limit=ORIGINAL_SHOWN)
    return "(not UTF-8: original_base64, see --format json)"


def letter_line(letter: DeadLetter) -> str:
    """One dead letter on one line: time, kind, reason, field, error, source, start of the original."""
    return "  ".join(
        [
            utc_text(letter.rejected_at),
            terminal_text(letter.kind, limit=40),
            terminal_text(letter.reason, limit=40),
            terminal_text(letter.field, limit=80) or "-",
            terminal_text(letter.error, limit=ERROR_SHOWN),
            f"({terminal_text(letter.source, limit=300)})",
            _original_start(letter),
        ]
    )


def summary_lines(summary: DeadLetterSummary, topic: str, wanted: DeadLetterFilter) -> list[str]:
    """The lines above the table: how many, of which kinds, from when to when, what was skipped."""
    scope = f" matching {wanted.describe()}" if wanted.describe() else ""
    if not summary.records:
        lines = [f"no dead letters{scope} in {topic}"]
    else:
        kinds = ", ".join(f"{terminal_text(k, limit=40)} {n}" for k, n in summary.kinds.items())
        first, last = utc_text(summary.first or 0), utc_text(summary.last or 0)
        lines = [
            f"{counted(summary.records, 'dead letter')}{scope} in {topic} ({kinds}), "
            + f"rejected from {first} to {last} UTC"
        ]
    if summary.unreadable:
        lines.append(
            f"{counted(summary.unreadable, 'unreadable record')} skipped: not dead letters as "
            "the monitor writes them (another writer on the topic?)"
        )
    return lines


def group_rows(
    summary: DeadLetterSummary, top: int = 50
) -> tuple[list[str], list[tuple[str, str, str, int]], str | None]:
    """Columns, the ``top`` largest (kind, reason, field) groups and a line for the rest, if any."""
    shown = summary.groups.most_common(top)
    rows = [
        (
            terminal_text(k, limit=40),
            terminal_text(r, limit=40),
            terminal_text(f, limit=80) or "-",
            n,
        )
        for (k, r, f), n in shown
    ]
    rest = summary.records - sum(n for _, n in shown)
    more = f"... and {counted(rest, 'record')} in other groups" if rest else None
    return ["kind", "reason", "field", "records"], rows, more


@dataclass(slots=True)
class OriginalsWriter:
    """Writes each text original to ``stream`` as one JSONL line, in the order given; a binary
    (not UTF-8) or cut short original is counted, not written. A line break in an original becomes a space: in
    JSON it can only be whitespace between values, and ``monitor replay`` reads one message a line."""

    stream: IO[bytes]
    written: int = 0
    binary: int = 0
    joined: int = 0  # originals whose line breaks became spaces
    truncated: int = 0  # cut short in the dead letter: counted, not written

    def add(self, letter: DeadLetter) -> None:
        if letter.original_truncated:
            self.truncated += 1
            return
        if letter.original is None:
            self.binary += 1
            return
        text = letter.original
        if "\n" in text or "\r" in text:
            text = text.replace("\r", " ").replace("\n", " ")
            self.joined += 1
        self.stream.write(text.encode() + b"\n")
        self.written += 1
