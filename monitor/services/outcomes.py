"""The outcome stage of a batch: join feedback to inference, fold outcome partials, run detectors.

Blocking (join store and ClickHouse calls); the worker runs it in its store thread. Detector
state is saved with the offset (and position epoch) it covers *before* the batch's partials, so
after a crash the replayed events feed the detectors only past that offset: no detection is lost
or repeated. A state is saved only when it changed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from monitor.adapters.join_store import JoinStore
from monitor.adapters.outcome_store import OutcomeStore
from monitor.adapters.schema import OUTCOME_PREFIX
from monitor.bounded import LRUMap
from monitor.detectors.concept import DEFAULT_SPECS, EVIDENCE_SPECS, ConceptDriftMonitor, Detection
from monitor.experiments.fold import (
    covariate_value,
    fold_experiment_inferences,
    fold_experiment_outcomes,
)
from monitor.folding.partials import Partial
from monitor.folding.pipeline import BatchOutput
from monitor.outcomes.fold import JoinedOutcome, fold_outcomes
from monitor.outcomes.join import (
    detector_streams,
    feedback_payload,
    inference_payload,
    joined_outcome,
    payload_offset,
    stream_times,
)

__all__ = ["OutcomeResult", "OutcomeStage"]

log = logging.getLogger("monitor.outcomes")
Source = tuple[str, int]


DetectorKey = tuple[str, int, str, str]  # (topic, partition, model, version)


@dataclass
class _Detectors:
    """One version's detectors on one source partition, with the offset they were fed up to."""

    monitor: ConceptDriftMonitor
    epoch: int
    fed: int
    saved: (
        int | None
    )  # hash of the snapshot last saved: a state that did not change is not saved again


@dataclass
class OutcomeResult:
    outcomes: list[JoinedOutcome] = field(default_factory=list)
    detections: list[tuple[str, int, Detection]] = field(default_factory=list)
    join_delays: list[float] = field(default_factory=list)
    evicted: int = 0  # detector sets dropped from memory after this batch (LRU cap)


def _outcome_partials(
    outcomes: Sequence[JoinedOutcome], window: int, segment_keys: Sequence[str], latest: float
) -> list[Partial]:
    return [
        Partial(
            s.window_start,
            window,
            s.model,
            s.model_version,
            OUTCOME_PREFIX + s.metric,
            s.segment,
            s.denominator,
            s.numerator,
            latest,
        )
        for s in fold_outcomes(outcomes, window, segment_keys)
    ]


class OutcomeStage:
    """Join, fold and detect for one worker. At most ``max_detectors`` detector sets (one per source
    partition, model and version) stay in memory, least recently used out first; an evicted set is
    read back from the store (where its last change was saved) when its version comes back."""

    def __init__(
        self,
        join_store: JoinStore,
        store: OutcomeStore,
        *,
        window_seconds: int,
        segment_keys: Sequence[str] = (),
        covariates: Mapping[str, str] | None = None,
        evidence_detectors: bool = False,
        max_detectors: int = 500,
    ) -> None:
        self.covariates = dict(
            covariates or {}
        )  # experiment -> the feature that is its CUPED covariate
        self.join_store = join_store
        self.store = store
        self.window = window_seconds
        self.segment_keys = tuple(segment_keys)
        # The quiet defaults feed alerts; the noisier evidence detectors only when asked for.
        self.specs = DEFAULT_SPECS + (EVIDENCE_SPECS if evidence_detectors else ())
        self.detectors: LRUMap[DetectorKey, _Detectors] = LRUMap(max_detectors)
        self.evicted = 0  # detector sets dropped from memory since start
        # event time of the value at each detection: (topic, partition, model, version, stream, position) -> time
        self.detection_times: dict[tuple[str, int, str, str, str, int], float] = {}

    def forget(self) -> None:
        """After a rebalance: detector state is reloaded from the store on next use."""
        self.detectors.clear()

    def _load(
        self, topic: str, partition: int, epoch: int, versions: Sequence[tuple[str, str]]
    ) -> None:
        """Bring the detector sets of ``versions`` into memory: stored state if any, else fresh ones."""
        missing = [mv for mv in versions if (topic, partition, *mv) not in self.detectors]
        stored = self.store.load_states(topic, partition, missing) if missing else {}
        for model, version in missing:
            if (model, version) in stored:
                state_epoch, offset, state = stored[(model, version)]
                monitor = ConceptDriftMonitor.restore(state).use_specs(self.specs)
                fed = offset if state_epoch == epoch else -1  # a new epoch: its offsets start again
                self.detectors[(topic, partition, model, version)] = _Detectors(
                    monitor, epoch, fed, hash(state)
                )
            else:
                self.detectors[(topic, partition, model, version)] = _Detectors(
                    ConceptDriftMonitor(model, version, self.specs), epoch, -1, None
                )

    def _join(
        self, kind: str, events: Sequence, ids: Sequence[str], late: Sequence[bool], now: float
    ) -> tuple[list, list[int]]:
        """Joined outcomes of one source's events and the offset of the event that completed each."""
        if kind == "inference":
            matches = self.join_store.add_inferences(
                [
                    (
                        e.request_id,
                        inference_payload(
                            e,
                            i,
                            counted=not too_late,
                            covariate=covariate_value(e, self.covariates),
                        ),
                    )
                    for e, i, too_late in zip(events, ids, late)
                ],
                now,
            )
            pairs = [(rid, inf, fb) for rid, inf, fbs in matches for fb in fbs]
            offsets = [payload_offset(inf) for _, inf, _ in pairs]
        else:
            pairs = self.join_store.add_feedback(
                [(e.request_id, i, feedback_payload(e, i)) for e, i in zip(events, ids)], now
            )
            offsets = [payload_offset(fb) for _, _, fb in pairs]
        return [joined_outcome(rid, inf, fb) for rid, inf, fb in pairs], offsets

    def process(self, out: BatchOutput, now: float) -> OutcomeResult:
        result = OutcomeResult()
        states = []
        for (topic, partition), source in out.sources.items():
            if not source.valid:
                continue
            late = source.late or [False] * len(source.valid)
            outcomes, offsets = self._join(source.kind, source.valid, source.event_ids, late, now)
            latest = max((e.timestamp for e in source.valid), default=0.0)
            # A window counts the outcomes of the inferences it counted, whenever the feedback comes.
            counted = [o for o in outcomes if o.counted]
            source.partials += _outcome_partials(counted, self.window, self.segment_keys, latest)
            source.partials += fold_experiment_outcomes(counted, self.window, self.segment_keys)
            if source.kind == "inference":
                on_time = [e for e, too_late in zip(source.valid, late) if not too_late]
                source.partials += fold_experiment_inferences(
                    on_time, self.window, self.segment_keys, self.covariates
                )
            result.outcomes += outcomes
            result.join_delays += [o.feedback_time - o.inference_time for o in outcomes]
            states += self._detect(topic, partition, source, outcomes, offsets, result)
        if result.detections:
            self.store.write_detections(
                [
                    (
                        now,
                        self.detection_times.get(
                            (t, p, d.model, d.model_version, d.stream, d.position), now
                        ),
                        d.model,
                        d.model_version,
                        d.stream,
                        d.detector,
                        t,
                        p,
                        d.position,
                        d.mean_before,
                        d.mean_after,
                        d.n_before,
                        d.n_after,
                    )
                    for t, p, d in result.detections
                ]
            )
            self.detection_times.clear()
        if states:
            self.store.save_states(states)
        result.evicted = len(self.detectors.trim())
        self.evicted += result.evicted
        return result

    def _detect(
        self,
        topic: str,
        partition: int,
        source,
        outcomes: list[JoinedOutcome],
        offsets: list[int],
        result: OutcomeResult,
    ) -> list[tuple[str, int, str, str, int, int, bytes]]:
        event_offsets = [int(i.split(":")[-2]) for i in source.event_ids]
        models = (
            {(e.model, e.model_version) for e in source.valid}
            if source.kind == "inference"
            else set()
        )
        models |= {(o.model, o.model_version) for o in outcomes}
        self._load(topic, partition, source.epoch, sorted(models))
        states = []
        for model, version in sorted(models):
            tracked = self.detectors[(topic, partition, model, version)]
            if (
                tracked.epoch != source.epoch
            ):  # the source's offsets restarted since this was loaded
                tracked.epoch, tracked.fed = source.epoch, -1
            monitor, seen = (
                tracked.monitor,
                tracked.fed,
            )  # values up to ``seen`` were fed before a crash: not again
            fresh = [
                o
                for o, offset in zip(outcomes, offsets)
                if offset > seen and (o.model, o.model_version) == (model, version)
            ]
            streams = detector_streams(fresh).get((model, version), {})
            times = stream_times(fresh)
            if source.kind == "inference":
                timed = [
                    (e.latency_ms, e.timestamp)
                    for e, offset in zip(source.valid, event_offsets)
                    if offset > seen
                    and e.latency_ms is not None
                    and (e.model, e.model_version) == (model, version)
                ]
                if timed:
                    streams["latency_ms"] = np.asarray([v for v, _ in timed])
                    times["latency_ms"] = [t for _, t in timed]
            if not streams:
                continue
            for stream, values in streams.items():
                start = monitor.position(stream)
                for d in monitor.update(stream, values):
                    result.detections.append((topic, partition, d))
                    at = times.get(stream, [])
                    if 0 <= d.position - start < len(at):
                        self.detection_times[
                            (topic, partition, model, version, stream, d.position)
                        ] = at[d.position - start]
            tracked.fed = source.last_offset
            snapshot = monitor.snapshot()
            if hash(snapshot) != tracked.saved:
                tracked.saved = hash(snapshot)
                states.append(
                    (topic, partition, model, version, source.epoch, source.last_offset, snapshot)
                )
        return states
