"""One version's detectors at their owner: fed every worker's values once, in arrival order.

:class:`VersionDetectors` wraps a :class:`~monitor.detectors.concept.ConceptDriftMonitor` with the
highest source offset fed per source log (topic, partition, position epoch). A consumed batch's
values are fed stream by stream in event-time order, so the shares of several source partitions
interleave as the moments they describe did. A value at or below that offset was fed already (a worker re-sent its batch after a crash, or the detector-values topic
was read again after a restart) and is skipped; the snapshot holds both, so a restored owner
continues exactly.

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
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from monitor.detectors.concept import ConceptDriftMonitor, Detection, DetectorSpec
from monitor.detectors.values import DetectorValues
from monitor.errors import MonitorError

__all__ = ["TimedDetection", "VersionDetectors"]

_SNAPSHOT_VERSION = 1
SourceLog = tuple[str, int, int]  # topic, partition, position epoch


@dataclass(frozen=True, slots=True)
class TimedDetection:
    """A detection and the event time of the value it was raised on."""

    detection: Detection
    event_time: float


@dataclass
class VersionDetectors:
    """A version's detector set and, per source log, the highest source offset fed."""

    monitor: ConceptDriftMonitor
    fed: dict[SourceLog, int] = field(default_factory=dict)

    @classmethod
    def fresh(cls, model: str, version: str, specs: Iterable[DetectorSpec]) -> VersionDetectors:
        return cls(ConceptDriftMonitor(model, version, specs))

    def feed(self, batch: Sequence[DetectorValues]) -> list[TimedDetection]:
        """Feed a consumed batch's values past what this set saw from their sources, each stream in
        event-time order across the batch's messages (every source partition's share of the same
        moments side by side); the detections they raise."""
        entries: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for values in batch:
            seen = self.fed.get(values.source, -1)
            for stream, column in values.streams.items():
                entries[stream] += [
                    (time, value)
                    for offset, value, time in zip(column.offsets, column.values, column.times)
                    if offset > seen
                ]
            self.fed[values.source] = max(seen, values.last_offset)
        found = []
        for stream, timed in entries.items():
            if not timed:
                continue
            timed.sort(key=lambda e: e[0])  # stable: one source's equal times keep their order
            start = self.monitor.position(stream)
            values_in_order = np.fromiter((v for _, v in timed), np.float64, len(timed))
            for d in self.monitor.update(stream, values_in_order):
                found.append(TimedDetection(d, timed[d.position - start][0]))
        return found

    def snapshot(self) -> bytes:
        """The detectors and the offsets fed, as bytes (see :meth:`restore`)."""
        return pickle.dumps(
            (_SNAPSHOT_VERSION, self.monitor.snapshot(), self.fed),
            protocol=pickle.HIGHEST_PROTOCOL,
        )

    @classmethod
    def restore(cls, data: bytes, specs: Iterable[DetectorSpec]) -> VersionDetectors:
        """A set from :meth:`snapshot` bytes (trusted storage only: this unpickles), running ``specs``.

        >>> VersionDetectors.restore(b"junk", [])
        Traceback (most recent call last):
        ...
        monitor.errors.MonitorError: detector snapshot is unreadable: pickle data was truncated
        """
        try:
            version, monitor, fed = pickle.loads(data)
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
            raise MonitorError(f"detector snapshot is unreadable: {exc}") from exc
        if version != _SNAPSHOT_VERSION:
            raise MonitorError(
                f"detector snapshot version {version!r}, expected {_SNAPSHOT_VERSION}"
            )
        return cls(ConceptDriftMonitor.restore(monitor).use_specs(specs), dict(fed))
