"""The ingest boundary's last line: a bug or a refused value on one message must not stop the worker.

The core never catches bare exceptions; here, when a step over a batch raises, the batch is split
in halves until the message(s) responsible are found (``isolate``: a few attempts for a few bad
messages in a large batch). Those go to the dead-letter topic with a reason; the rest of the batch
is processed as usual, and the offsets written still cover the dead-lettered messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from monitor.contract.decode import Rejection, event_original
from monitor.contract.reasons import INTERNAL_ERROR, TOO_MANY_FEEDBACK, UNWRITABLE
from monitor.errors import blames_the_input
from monitor.folding.pipeline import (
    BatchConfig,
    BatchOutput,
    InferenceFold,
    Position,
    RawMessage,
    SourceOutput,
    process_batch,
)
from monitor.folding.resends import StoredInferences
from monitor.services.outcomes import RefusedFeedback
from monitor.wording import counted

__all__ = [
    "MessageKey",
    "isolate",
    "message_key",
    "process_isolating",
    "refused_feedback",
    "unwritable_rejection",
]

log = logging.getLogger("monitor.tools.worker")
T = TypeVar("T")
MessageKey = tuple[str, int, int]


def message_key(message: RawMessage) -> MessageKey:
    return (message.topic, message.partition, message.offset)


def isolate(
    items: Sequence[T], attempt: Callable[[Sequence[T]], object]
) -> tuple[list[T], list[tuple[T, Exception]]]:
    """Split ``items`` into those ``attempt`` accepts together and those it raises on, alone.

    Bisects: k bad items among n cost about 2·k·log2(n) attempts. An error that does not blame the
    input (an outage, a store refusing our credentials: :func:`blames_the_input`) is re-raised: it
    says nothing about the items.

    >>> def no_sevens(xs):
    ...     if 7 in xs:
    ...         raise ValueError("seven")
    >>> good, bad = isolate(list(range(10)), no_sevens)
    >>> good, [(x, str(e)) for x, e in bad]
    ([0, 1, 2, 3, 4, 5, 6, 8, 9], [(7, 'seven')])
    """
    try:
        attempt(items)
        return list(items), []
    except Exception as exc:
        if not blames_the_input(exc):
            raise
        if len(items) == 1:
            return [], [(items[0], exc)]
    mid = len(items) // 2
    good, bad = isolate(items[:mid], attempt)
    more_good, more_bad = isolate(items[mid:], attempt)
    good += more_good
    if bad or more_bad:
        try:
            attempt(good)
        except Exception as exc:
            if not blames_the_input(exc):
                raise
            good, bad = _greedy(good, attempt, bad)
    return good, bad + more_bad


def _greedy(
    items: list[T], attempt: Callable[[Sequence[T]], object], bad: list[tuple[T, Exception]]
) -> tuple[list[T], list[tuple[T, Exception]]]:
    kept: list[T] = []
    for item in items:
        try:
            attempt([*kept, item])
            kept.append(item)
        except Exception as exc:
            if not blames_the_input(exc):
                raise
            bad.append((item, exc))
    return kept, bad


def _detail(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def process_isolating(
    raw: Sequence[RawMessage],
    positions: Mapping[tuple[str, int], Position],
    config: BatchConfig,
    folds: Sequence[InferenceFold] = (),
    excluded: Mapping[MessageKey, Rejection] | None = None,
    stored_inferences: StoredInferences | None = None,
) -> BatchOutput:
    """``process_batch``, with the messages that make it raise dead-lettered instead.

    ``excluded`` messages (found unwritable earlier) are dead-lettered with their rejection without
    being processed (``stored_inferences``: as in ``process_batch``). The offsets of every dead-lettered message stay covered by the batch's offset
    markers, so they are not read again after a restart.
    """
    excluded = excluded or {}
    kept = [m for m in raw if message_key(m) not in excluded]
    bad: list[tuple[RawMessage, Exception]] = []
    try:
        out = process_batch(kept, positions, config, folds, stored_inferences)
    except Exception as exc:
        if not blames_the_input(exc):
            raise
        good, bad = isolate(
            kept, lambda part: process_batch(part, positions, config, folds, stored_inferences)
        )
        log.error(
            "%s of a batch of %d raised while processing; dead-lettering them",
            counted(len(bad), "message"),
            len(raw),
        )
        out = process_batch(good, positions, config, folds, stored_inferences)
    dead = [
        (m, Rejection(INTERNAL_ERROR, "", f"processing raised {_detail(exc)}", -1, m.value or b""))
        for m, exc in bad
    ]
    dead += [(m, excluded[message_key(m)]) for m in raw if message_key(m) in excluded]
    for message, rejection in dead:
        if _cover(out, message, positions):
            out.rejections.append((message, rejection))
    return out


def _cover(
    out: BatchOutput, message: RawMessage, positions: Mapping[tuple[str, int], Position]
) -> bool:
    """Advance the source's last offset over a dead-lettered message; False for a replayed one."""
    source = (message.topic, message.partition)
    start = positions.get(source, Position(-1, 0.0))
    if message.offset <= start.last_offset:
        return False  # written before: not dead-lettered again
    out.messages[message.topic] += 1
    src = out.sources.get(source)
    if src is None:
        out.sources[source] = SourceOutput(
            message.offset, start.watermark, kind=message.kind, start_watermark=start.watermark
        )
    elif message.offset > src.last_offset:
        src.last_offset = message.offset
    return True


def unwritable_rejection(message: RawMessage, exc: Exception) -> Rejection:
    return Rejection(
        UNWRITABLE,
        "",
        f"the store or an encoder refused it: {_detail(exc)}",
        -1,
        message.value or b"",
    )


def refused_feedback(
    raw: Sequence[RawMessage], refused: Sequence[RefusedFeedback]
) -> list[tuple[RawMessage, Rejection]]:
    """The dead letters of the feedback events the join store refused, each with its original."""
    messages = {message_key(m): m for m in raw}
    dead = []
    for r in refused:
        message = messages[(*r.source, r.offset)]
        detail = (
            f"{r.request_id!r:.100} holds {r.bound} feedback events already, the most one "
            "request keeps (MONITOR_MAX_FEEDBACK_PER_REQUEST); this one is not counted"
        )
        original = event_original(message.value or b"", r.index)
        dead.append(
            (message, Rejection(TOO_MANY_FEEDBACK, "request_id", detail, r.index, original))
        )
    return dead
