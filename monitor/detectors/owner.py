"""One version's detectors at their owner: fed every worker's values once, in arrival order.

:class:`VersionDetectors` wraps a :class:`~monitor.detectors.concept.ConceptDriftMonitor` with the
highest value position fed per source log (topic, partition, position epoch; a position is a
source offset and the rank of a value among that offset's, :func:`~monitor.detectors.values.value_position`). Values are fed in
the order the detector-values topic holds them: message by message, each message's in its order
(a worker's batch, merged in event-time order by :func:`monitor.detectors.values.merged`). The
order never depends on how the topic was cut into consumed batches, so a restored owner that
reads the topic again feeds the same values in the same order and raises the same
detections at the same positions (sorting a consumed batch by event time would not: a replay's
batches hold other messages together). A value at or below that position was fed already (a worker
re-sent its batch after a crash, or the detector-values topic was read again after a restart) and
is skipped; the snapshot holds both, so a restored owner continues exactly.

>>> from monitor.detectors.concept import DetectorSpec
>>> from monitor.detectors.values import DetectorValues, StreamValues
>>> owner = VersionDetectors.fresh("m", "v1", [DetectorSpec("error", "adwin")])
>>> batch = DetectorValues("m", "v1", "fb", 0, 0, 11,
...     {"error": StreamValues((10, 11), (0.0, 1.0), (1.0, 2.0))})
>>> owner.feed([batch]), owner.monitor.position("error")
([], 2)
>>> owner.feed([batch]), owner.monitor.position("error")   # the same batch again: nothing fed
([], 2)
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from monitor.detectors.concept import ConceptDriftMonitor, Detection, DetectorSpec
from monitor.detectors.snapshot_pickle import load_snapshot
from monitor.detectors.values import DetectorValues, offset_end
from monitor.errors import MonitorError

__all__ = ["TimedDetection", "VersionDetectors"]

# 2: value positions fed per source log; 1 held source offsets, read as each offset's end
_SNAPSHOT_VERSION = 2
SourceLog = tuple[str, int, int]  # topic, partition, position epoch


@dataclass(frozen=True, slots=True)
class TimedDetection:
    """A detection and the event time of the value it was raised on."""

    detection: Detection
    event_time: float


@dataclass
class VersionDetectors:
    """A version's detector set and, per source log, the highest value position fed."""

    monitor: ConceptDriftMonitor
    fed: dict[SourceLog, int] = field(default_factory=dict)

    @classmethod
    def fresh(cls, model: str, version: str, specs: Iterable[DetectorSpec]) -> VersionDetectors:
        return cls(ConceptDriftMonitor(model, version, specs))

    def feed(self, batch: Sequence[DetectorValues]) -> list[TimedDetection]:
        """Feed a consumed batch's values past what this set saw from their sources, message by
        message; the detections they raise."""
        found = []
        for values in batch:
            sources = values.sources
            seen = [self.fed.get(source.log, -1) for source in sources]
            for stream, column in values.streams.items():
                fresh = [
                    (time, value)
                    for position, value, time, k in zip(
                        column.positions, column.values, column.times, column.source_of()
                    )
                    if position > seen[k]
                ]
                if fresh:
                    found += self._update(stream, fresh)
            for source in sources:
                self.fed[source.log] = max(self.fed.get(source.log, -1), source.last_position)
        return found

    def _update(self, stream: str, timed: list[tuple[float, float]]) -> list[TimedDetection]:
        start = self.monitor.position(stream)
        in_order = np.fromiter((v for _, v in timed), np.float64, len(timed))
        return [
            TimedDetection(d, timed[d.position - start][0])
            for d in self.monitor.update(stream, in_order)
        ]

    def snapshot(self) -> bytes:
        """The detectors and the positions fed, as bytes (see :meth:`restore`)."""
        return pickle.dumps(
            (_SNAPSHOT_VERSION, self.monitor.snapshot(), self.fed),
            protocol=pickle.HIGHEST_PROTOCOL,
        )

    @classmethod
    def restore(cls, data: bytes, specs: Iterable[DetectorSpec]) -> VersionDetectors:
        """A set from :meth:`snapshot` bytes (only the classes a snapshot holds: :mod:`monitor.detectors.snapshot_pickle`), running ``specs``.

        >>> VersionDetectors.restore(b"junk", [])
        Traceback (most recent call last):
        ...
        monitor.errors.MonitorError: detector snapshot is unreadable: pickle data was truncated
        """
        try:
            version, monitor, fed = load_snapshot(data)
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
            raise MonitorError(f"detector snapshot is unreadable: {exc}") from exc
        if version == 1:  # offsets fed: every value of each was
            fed = {log: offset_end(offset) for log, offset in fed.items()}
        elif version != _SNAPSHOT_VERSION:
            raise MonitorError(
                f"detector snapshot version {version!r}, expected {_SNAPSHOT_VERSION}"
            )
        return cls(ConceptDriftMonitor.restore(monitor).use_specs(specs), dict(fed))
