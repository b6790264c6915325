"""The log ends of the source partitions that detector values name, to bound their positions.

A detector-values message covers source offsets a worker read (``covered_offsets``), so they are
below the partition's log end; a forged one past it would make its version skip real values
(``beyond_log_ends``). The ends come from this worker's ingest consumer where it reads the
partition, else from the broker, asked only when a message covers an offset past the end known.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from monitor.adapters.source_log import SourceLog
from monitor.detectors.values import beyond_log_ends, covered_offsets
from monitor.services.detectors import ValuesMessage

__all__ = ["SourceEnds"]

Source = tuple[str, int]


class SourceEnds:
    """Log ends of the partitions of ``topics`` (the source topics), highest seen."""

    def __init__(
        self,
        source_log: SourceLog,
        topics: Iterable[str],
        fetched: Callable[[], Mapping[Source, int]] = dict,
    ) -> None:
        self.source_log = source_log
        self.topics = frozenset(topics)
        self.fetched = fetched  # the ingest consumer's latest high watermarks
        self.ends: dict[Source, int] = {}
        self.partitions: dict[str, frozenset[int]] = {}

    async def split(
        self, messages: Sequence[ValuesMessage]
    ) -> tuple[list[ValuesMessage], list[tuple[ValuesMessage, str]]]:
        """The messages whose positions their source logs have reached, and the others with why."""
        covered: dict[Source, int] = {}
        for message in messages:
            for source, offset in covered_offsets(message.values).items():
                covered[source] = max(covered.get(source, -1), offset)
        ends = await self.of(covered)
        usable, beyond = [], []
        for message in messages:
            why = beyond_log_ends(message.values, ends)
            if why is None:
                usable.append(message)
            else:
                beyond.append((message, why))
        return usable, beyond

    async def of(self, covered: Mapping[Source, int]) -> dict[Source, int]:
        """The log end of every source partition of ``covered`` (source -> last offset covered),
        asked of the broker where the end known is not past that offset; a partition that is no
        source topic's is left out. :class:`~monitor.errors.BrokerError` if the broker does not
        answer."""
        for source, end in self.fetched().items():
            self._saw(source, end)
        ask = {
            source: offset
            for source, offset in covered.items()
            if source[0] in self.topics and offset >= self.ends.get(source, 0)
        }
        if any(partition not in self.partitions.get(topic, ()) for topic, partition in ask):
            self.partitions = await self.source_log.partitions(self.topics)
        ask = {s: o for s, o in ask.items() if s[1] in self.partitions.get(s[0], ())}
        if ask:  # an end listed at or below the offset is confirmed by a fetch there
            for source, state in (await self.source_log.states(ask, ask)).items():
                self._saw(source, state.log_end)
        return {
            source: self.ends.get(source, 0)
            for source in covered
            if source in self.ends or source[1] in self.partitions.get(source[0], ())
        }

    def _saw(self, source: Source, end: int) -> None:
        if source[0] in self.topics:
            self.ends[source] = max(self.ends.get(source, 0), end)
