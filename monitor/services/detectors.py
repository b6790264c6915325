"""The detector owner: one detector set per (model, version), fed from the detector-values topic.

Blocking (store calls); the detector agent runs it in the store thread. Per consumed batch, the
versions' sets are loaded (the newest saved state, else fresh), fed the values past what each saw
from every source log, their detections written (keyed by model, version, stream, detector and
position, so a replay that raises a detection again replaces it), then the changed states saved.
A crash between the two writes replays values from the older state: the same detections again,
at the same positions, never a lost or a doubled one. At most ``max_detectors`` sets stay in
memory, least recently used out first; an evicted one is read back from the store. A message whose
values cannot be fed or written is skipped alone (:meth:`DetectorOwner.process_isolating`): the
other versions' values of its batch, and the other messages of its version, are fed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from monitor.adapters.outcome_store import OutcomeStore
from monitor.bounded import LRUMap
from monitor.detectors.concept import DEFAULT_SPECS, EVIDENCE_SPECS, DetectorSpec
from monitor.detectors.owner import TimedDetection, VersionDetectors
from monitor.detectors.values import DetectorValues
from monitor.errors import blames_the_input

__all__ = ["DetectorBatch", "DetectorOwner", "ValuesMessage"]

log = logging.getLogger("monitor.detectors")
VersionKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class ValuesMessage:
    """One consumed detector-values message: where it sits in the topic, and what it holds."""

    partition: int
    offset: int
    values: DetectorValues


@dataclass
class DetectorBatch:
    detections: list[TimedDetection] = field(default_factory=list)
    values: int = 0  # values fed (replayed ones not counted)
    evicted: int = 0  # detector sets dropped from memory after this batch (LRU cap)
    # messages not fed because feeding or writing them alone raised, each with its error
    skipped: list[tuple[ValuesMessage, Exception]] = field(default_factory=list)

    def add(self, other: DetectorBatch) -> None:
        self.detections += other.detections
        self.values += other.values
        self.evicted += other.evicted
        self.skipped += other.skipped


@dataclass
class _Tracked:
    detectors: VersionDetectors
    saved: int | None  # hash of the last saved snapshot: an unchanged state is not saved again
    sequence: int = 0  # of the last save: newer saves carry larger ones, whichever worker saves


class DetectorOwner:
    """Feeds the detector sets of the versions whose values this worker's partitions carry."""

    def __init__(
        self,
        store: OutcomeStore,
        topic: str,
        *,
        evidence_detectors: bool = False,
        max_detectors: int = 500,
        specs: Sequence[DetectorSpec] | None = None,
    ) -> None:
        self.store = store
        self.topic = (
            topic  # the detector-values topic: the key states and detections are saved under
        )
        # The quiet defaults feed alerts; the noisier evidence detectors only when asked for.
        self.specs = (
            tuple(specs)
            if specs is not None
            else DEFAULT_SPECS + (EVIDENCE_SPECS if evidence_detectors else ())
        )
        self.sets: LRUMap[VersionKey, _Tracked] = LRUMap(max_detectors)
        self.evicted = 0

    def forget(self) -> None:
        """After a rebalance of the detector-values topic: states are read back on next use."""
        self.sets.clear()

    def process_isolating(self, messages: Sequence[ValuesMessage], now: float) -> DetectorBatch:
        """:meth:`process`; when that raises for the input's sake (:func:`blames_the_input`: not an
        outage, not a store refusing its user), one version at a time, and a version that still
        raises one message at a time: a message that raises alone is skipped (in
        :attr:`DetectorBatch.skipped`), the rest fed. Each failed attempt forgets the sets in
        memory, so the next one starts from what the store holds; what an attempt that succeeded
        fed is skipped by position when a retry of the batch feeds it again."""
        try:
            return self.process(messages, now)
        except Exception as exc:  # noqa: BLE001 - isolated below, or raised for the caller to retry
            self._forget_unless_retried(exc)
        batch = DetectorBatch()
        by_version: dict[VersionKey, list[ValuesMessage]] = defaultdict(list)
        for message in messages:
            by_version[(message.values.model, message.values.model_version)].append(message)
        for group in by_version.values():
            try:
                batch.add(self.process(group, now))
                continue
            except Exception as exc:  # noqa: BLE001 - as above
                self._forget_unless_retried(exc)
                if len(group) == 1:
                    batch.skipped.append((group[0], exc))
                    continue
            for message in group:
                try:
                    batch.add(self.process([message], now))
                except Exception as exc:  # noqa: BLE001 - as above
                    self._forget_unless_retried(exc)
                    batch.skipped.append((message, exc))
        return batch

    def _forget_unless_retried(self, exc: Exception) -> None:
        """Raise ``exc`` again when no message is to blame; else forget the sets a failed attempt
        may have fed in memory and not saved."""
        if not blames_the_input(exc):
            raise exc
        self.forget()

    def process(self, messages: Sequence[ValuesMessage], now: float) -> DetectorBatch:
        batch = DetectorBatch()
        self._load(sorted({(m.values.model, m.values.model_version) for m in messages}))
        by_version: dict[VersionKey, list[DetectorValues]] = defaultdict(list)
        last: dict[VersionKey, int] = {}
        for message in messages:
            key = (message.values.model, message.values.model_version)
            by_version[key].append(message.values)
            last[key] = message.partition
        for key, values in by_version.items():
            monitor = self.sets[key].detectors.monitor
            streams = {s for v in values for s in v.streams}
            before = sum(monitor.position(s) for s in streams)
            batch.detections += self.sets[key].detectors.feed(values)
            batch.values += sum(monitor.position(s) for s in streams) - before
        if batch.detections:
            self.store.write_detections([self._row(d, now) for d in batch.detections])
        states = []
        for key, partition in last.items():
            tracked = self.sets.peek(key)
            snapshot = tracked.detectors.snapshot()
            if hash(snapshot) != tracked.saved:
                # The save sequence (not the topic offset: a recreated topic restarts those) orders
                # the saved states; the newest is read back.
                tracked.saved, tracked.sequence = (
                    hash(snapshot),
                    max(int(now * 1000), tracked.sequence + 1),
                )
                states.append((self.topic, partition, *key, 0, tracked.sequence, snapshot))
        if states:
            self.store.save_states(states)
        batch.evicted = len(self.sets.trim())
        self.evicted += batch.evicted
        return batch

    def _load(self, versions: Sequence[VersionKey]) -> None:
        missing = [v for v in versions if v not in self.sets]
        stored = self.store.load_version_states(self.topic, missing) if missing else {}
        for model, version in missing:
            if (model, version) in stored:
                sequence, state = stored[(model, version)]
                restored = VersionDetectors.restore(state, self.specs)
                # hashed as it would be saved now (a restored object may pickle to other bytes)
                self.sets[(model, version)] = _Tracked(
                    restored, hash(restored.snapshot()), sequence
                )
            else:
                self.sets[(model, version)] = _Tracked(
                    VersionDetectors.fresh(model, version, self.specs), None
                )

    def _row(self, found: TimedDetection, now: float) -> tuple:
        d = found.detection
        return (
            now,
            found.event_time,
            d.model,
            d.model_version,
            d.stream,
            d.detector,
            self.topic,
            0,  # one detector set per version: detections are not per partition
            d.position,
            d.mean_before,
            d.mean_after,
            d.n_before,
            d.n_after,
        )
