"""Positions of the source partitions: read from the store, checked against the broker, advanced.

A stored position is trusted only after the broker confirmed it still counts in the same log
(``monitor.folding.offsets.check_position``): when the partition is first seen (start, rebalance, retry)
and whenever a batch would skip messages below a position this worker wrote itself. A replay
that skips batch after batch from one loaded position is checked once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from monitor.adapters.prometheus_metrics import MonitorMetrics
from monitor.adapters.source_log import SourceLog
from monitor.folding.offsets import check_position
from monitor.folding.pipeline import BatchOutput, Position, RawMessage

__all__ = ["SourcePositions"]

log = logging.getLogger("monitor.tools.worker")
Source = tuple[str, int]


class SourcePositions:
    def __init__(
        self,
        read_stored: Callable[[str, int], Awaitable[Position]],
        source_log: SourceLog,
        metrics: MonitorMetrics,
        cache: dict[Source, Position] | None = None,
    ) -> None:
        self.read_stored = read_stored
        self.source_log = source_log
        self.metrics = metrics
        self.positions: dict[Source, Position] = cache if cache is not None else {}
        self._checked: dict[Source, Position] = {}  # the position object the broker last confirmed

    def forget(self) -> None:
        """After a rebalance or a failed write: everything is read and checked again."""
        self.positions.clear()
        self._checked.clear()

    async def for_batch(self, raw: Sequence[RawMessage]) -> dict[Source, Position]:
        """Checked positions of every source partition in ``raw``."""
        first: dict[Source, int] = {}
        for message in raw:
            source = (message.topic, message.partition)
            first[source] = min(first.get(source, message.offset), message.offset)
        unknown = [s for s in first if s not in self.positions]
        for source in unknown:
            self.positions[source] = await self.read_stored(*source)
        to_check = [
            s
            for s, offset in first.items()
            if s in unknown
            or (
                self._checked.get(s) is not self.positions[s]
                and offset <= self.positions[s].last_offset
            )
        ]
        if to_check:
            states = await self.source_log.states(
                to_check, {s: self.positions[s].last_offset for s in to_check}
            )
            for source in to_check:
                self._apply(source, check_position(self.positions[source], states[source]))
        return self.positions

    def _apply(self, source: Source, check: Any) -> None:
        if check.reset:
            topic, partition = source
            self.metrics.offset_resets.labels(topic=topic, reason=check.reset).inc()
            log.warning(
                "offsets of %s/%d restarted (%s: %s): new position epoch %d, every message of the new "
                "log is processed",
                topic,
                partition,
                check.reset,
                check.detail,
                check.position.epoch,
            )
        self.positions[source] = check.position
        self._checked[source] = check.position

    def logs(self, out: BatchOutput) -> dict[Source, tuple[int, str]]:
        """(epoch, identity) of each source of a processed batch, for its offset markers."""
        return {s: (self.positions[s].epoch, self.positions[s].identity) for s in out.sources}

    def advance(self, out: BatchOutput) -> None:
        """The batch is written: its sources are now at its last offsets."""
        for source, o in out.sources.items():
            identity = self.positions[source].identity if source in self.positions else ""
            self.positions[source] = Position(o.last_offset, o.watermark, o.epoch, identity)
