"""Offsets that cannot lie: is a stored position still a position in the broker's log?

The worker skips every message at or below the offset stored for its partition (a replay after a
crash). That is only right while the offsets count in the same log. A topic deleted and created
again, or a broker that lost its storage, starts offsets from 0 again: the stored offset then
points into a log that no longer exists, and skipping would silently drop new events.

Before the worker trusts a stored position it compares it with what the broker says now:

- the **identity** of the log: the Kafka cluster id and the topic id (Kafka assigns a new topic id
  to a recreated topic; metadata v10+). A part the broker does not report is not compared;
- the partition's **log end offset** (high watermark): a stored last offset at or beyond it
  names a message the log never held, so the log was reset. A replay after a crash always has a
  log end above the stored offset, because the stored offset was read from that log.

Either way the position starts a new **epoch** from offset -1: every message of the new log is
processed, none is skipped, and the reset is reported.

>>> stored = Position(41, 1000.0, 0, "c1/t1")
>>> check_position(stored, LogState("c1/t1", log_end=100)).reset is None  # a replay: skip up to 41
True
>>> check = check_position(stored, LogState("c1/t2", log_end=100))       # the topic was recreated
>>> check.reset, check.position
('identity_changed', Position(last_offset=-1, watermark=1000.0, epoch=1, identity='c1/t2'))
>>> check_position(stored, LogState("c1/t1", log_end=30)).reset           # the broker lost its log
'offset_beyond_log_end'
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.folding.pipeline import Position

__all__ = [
    "IDENTITY_CHANGED",
    "OFFSET_BEYOND_LOG_END",
    "LogState",
    "PositionCheck",
    "check_position",
    "log_identity",
    "same_log",
]

IDENTITY_CHANGED = "identity_changed"
OFFSET_BEYOND_LOG_END = "offset_beyond_log_end"


@dataclass(frozen=True, slots=True)
class LogState:
    """What the broker reports for a source partition now.

    ``identity`` is :func:`log_identity` of the cluster and topic ids (``""`` for an unknown part);
    ``log_end`` is the offset the next message will get (the high watermark).
    """

    identity: str
    log_end: int


@dataclass(frozen=True, slots=True)
class PositionCheck:
    """The position to process from, and why a new epoch started (``None``: the stored one holds)."""

    position: Position
    reset: str | None = None
    detail: str = ""


def log_identity(cluster_id: str | None, topic_id: str | None) -> str:
    """``cluster/topic``, with an empty part where the broker does not say.

    >>> log_identity("tansu_cluster", "0196..."), log_identity(None, None)
    ('tansu_cluster/0196...', '/')
    """
    return f"{cluster_id or ''}/{topic_id or ''}"


def same_log(stored: str, current: str) -> bool:
    """Whether two identities can be the same log: every part known on both sides is equal.

    >>> same_log("c/t1", "c/t1"), same_log("c/t1", "c/t2"), same_log("", "c/t2"), same_log("c/", "c/t2")
    (True, False, True, True)
    """
    for mine, theirs in zip(stored.split("/", 1), current.split("/", 1)):
        if mine and theirs and mine != theirs:
            return False
    return True


def check_position(stored: Position, log: LogState) -> PositionCheck:
    """``stored`` if it still counts in ``log``, else a new epoch from offset -1 (watermark kept).

    The watermark is kept on purpose: windows the old log closed stay closed, so events of the new
    log older than the allowed lateness are counted as late rather than changing scored windows.
    A partition never written (``last_offset == -1``) adopts the log's identity in its epoch.
    """
    if stored.last_offset < 0:
        return PositionCheck(
            Position(-1, stored.watermark, stored.epoch, log.identity or stored.identity)
        )
    new_epoch = Position(-1, stored.watermark, stored.epoch + 1, log.identity)
    if not same_log(stored.identity, log.identity):
        return PositionCheck(
            new_epoch, IDENTITY_CHANGED, f"stored {stored.identity!r}, broker {log.identity!r}"
        )
    if stored.last_offset >= log.log_end:
        return PositionCheck(
            new_epoch,
            OFFSET_BEYOND_LOG_END,
            f"stored offset {stored.last_offset} is at or beyond the log end {log.log_end}",
        )
    kept = Position(
        stored.last_offset, stored.watermark, stored.epoch, _merged(stored.identity, log.identity)
    )
    return PositionCheck(kept)


def _merged(stored: str, current: str) -> str:
    """The current identity, keeping stored parts the broker did not report."""
    if not stored:
        return current
    parts = [theirs or mine for mine, theirs in zip(stored.split("/", 1), current.split("/", 1))]
    return "/".join(parts) if len(parts) == 2 else current
