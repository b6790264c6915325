"""The outcome stage of a batch: join feedback to inference, fold outcome partials, collect detector values.

Blocking (join store calls); the worker runs it in its store thread. The detectors do not run here:
each batch's detector values go, per (model, version), to the detector-values topic, whose owner
feeds one detector set per version (:mod:`monitor.services.detectors`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from monitor.adapters.join_store import JoinStore
from monitor.adapters.schema import OUTCOME_PREFIX
from monitor.detectors.values import DetectorValues, merged, offset_end
from monitor.experiments.bound import UNDECLARED, ExperimentBound
from monitor.experiments.fold import (
    assigned_count,
    covariate_value,
    fold_experiment_inferences,
    fold_experiment_outcomes,
)
from monitor.folding.partials import Partial
from monitor.folding.pipeline import BatchOutput
from monitor.folding.refused import drop_feedback
from monitor.outcomes.fold import JoinedOutcome, fold_outcomes
from monitor.outcomes.join import (
    detector_values,
    event_positions,
    feedback_key,
    feedback_payload,
    inference_payload,
    join_positions,
    joined_outcome,
    latency_columns,
)
from monitor.segments import DEFAULT_MAX_SEGMENT_VALUES

__all__ = ["OutcomeResult", "OutcomeStage", "RefusedFeedback"]

log = logging.getLogger("monitor.outcomes")


@dataclass(frozen=True, slots=True)
class RefusedFeedback:
    """A feedback event the join store refused: its request holds ``bound`` feedback events."""

    source: tuple[str, int]  # topic, partition
    offset: int
    index: int  # in its message
    request_id: str
    bound: int


@dataclass
class OutcomeResult:
    outcomes: list[JoinedOutcome] = field(default_factory=list)
    values: list[DetectorValues] = field(default_factory=list)  # for the detector owners
    join_delays: list[float] = field(default_factory=list)
    refused: list[RefusedFeedback] = field(default_factory=list)  # taken out of the batch
    # on-time assignments whose experiment partials the per-batch bound left out
    assignments_left_out: int = 0


def _outcome_partials(
    outcomes: Sequence[JoinedOutcome],
    window: int,
    segment_keys: Sequence[str],
    max_segment_values: int,
    latest: float,
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
        for s in fold_outcomes(outcomes, window, segment_keys, max_segment_values)
    ]


class OutcomeStage:
    """Join and fold for one worker; the batch's detector values are collected for their owners."""

    def __init__(
        self,
        join_store: JoinStore,
        *,
        window_seconds: int,
        segment_keys: Sequence[str] = (),
        covariates: Mapping[str, str] | None = None,
        max_segment_values: int = DEFAULT_MAX_SEGMENT_VALUES,
        experiment_bound: ExperimentBound = UNDECLARED,
    ) -> None:
        self.covariates = dict(
            covariates or {}
        )  # experiment -> the feature that is its CUPED covariate
        self.join_store = join_store
        self.window = window_seconds
        self.segment_keys = tuple(segment_keys)
        self.max_segment_values = max_segment_values  # per key and batch (monitor.segments)
        self.experiment_bound = experiment_bound  # per batch (monitor.experiments.bound)

    def _join(
        self, kind: str, events: Sequence, ids: Sequence[str], late: Sequence[bool], now: float
    ) -> tuple[list, list[int], list[int]]:
        """Joined outcomes of one source's events, the value position of each
        (:func:`~monitor.outcomes.join.join_positions`) and the positions in ``events`` of the
        feedback the store refused (its request holds its bound already)."""
        refused: list[int] = []
        if kind == "inference":
            matches = self.join_store.add_inferences(
                [
                    (
                        e.request_id,
                        inference_payload(
                            e,
                            i,
                            counted=not too_late,
                            covariate=covariate_value(e, self.covariates)
                            if self.covariates
                            else None,
                        ),
                    )
                    for e, i, too_late in zip(events, ids, late)
                ],
                now,
            )
            pairs = [(rid, inf, fb) for rid, inf, fbs in matches for fb in fbs]
            positions = join_positions([inf for _, inf, _ in pairs], [fb for _, _, fb in pairs])
        else:
            items = [
                (e.request_id, feedback_key(e, i), feedback_payload(e, i))
                for e, i in zip(events, ids)
            ]
            added = self.join_store.add_feedback(items, now)
            if added.refused:  # every event under a refused key: a repeat in the batch too
                keys = set(added.refused)
                refused = [n for n, item in enumerate(items) if item[:2] in keys]
            pairs = added.matches
            positions = join_positions([fb for _, _, fb in pairs], [inf for _, inf, _ in pairs])
        return [joined_outcome(rid, inf, fb) for rid, inf, fb in pairs], positions, refused

    def process(self, out: BatchOutput, now: float) -> OutcomeResult:
        result = OutcomeResult()
        for (topic, partition), source in out.sources.items():
            if not source.valid:
                continue
            late = source.late or [False] * len(source.valid)
            outcomes, positions, refused = self._join(
                source.kind, source.valid, source.event_ids, late, now
            )
            if refused:  # dead-lettered by the caller, counted nowhere
                result.refused += self._take_out(out, (topic, partition), refused)
            latest = max((e.timestamp for e in source.valid), default=0.0)
            # A window counts the outcomes of the inferences it counted, whenever the feedback comes.
            counted = [o for o in outcomes if o.counted]
            keys, cap = self.segment_keys, self.max_segment_values
            source.partials += _outcome_partials(counted, self.window, keys, cap, latest)
            source.partials += fold_experiment_outcomes(
                counted, self.window, keys, cap, self.experiment_bound
            )
            if source.kind == "inference":
                # the on-time events in an experiment: the fold's input, and what it can leave out
                in_experiment = [
                    e
                    for e, too_late in zip(source.valid, late)
                    if not too_late and e.experiment is not None and e.variant is not None
                ]
                assigned = fold_experiment_inferences(
                    in_experiment, self.window, keys, self.covariates, cap, self.experiment_bound
                )
                source.partials += assigned
                result.assignments_left_out += len(in_experiment) - int(assigned_count(assigned))
            result.outcomes += outcomes
            result.join_delays += [o.feedback_time - o.inference_time for o in outcomes]
            result.values += _values(topic, partition, source, outcomes, positions)
        result.values = merged(result.values)  # a backlog's partitions side by side, in event time
        return result

    def _take_out(
        self, out: BatchOutput, source: tuple[str, int], refused: list[int]
    ) -> list[RefusedFeedback]:
        src = out.sources[source]
        taken = [
            RefusedFeedback(
                source,
                src.offsets[n],
                int(src.event_ids[n].rsplit(":", 1)[1]),
                src.valid[n].request_id,
                self.join_store.max_feedback,
            )
            for n in refused
        ]
        drop_feedback(out, source, refused, self.window)
        return taken


def _values(
    topic: str, partition: int, source, outcomes: list[JoinedOutcome], positions: list[int]
) -> list[DetectorValues]:
    """The source's detector values of this batch, one message per model version, covering every
    position up to the end of the batch's last offset."""
    latencies = (
        latency_columns(source.valid, event_positions(source.offsets))
        if source.kind == "inference"
        else {}
    )
    last = offset_end(source.last_offset)
    return [
        DetectorValues(model, version, topic, partition, source.epoch, last, streams)
        for (model, version), streams in sorted(
            detector_values(outcomes, positions, latencies).items()
        )
    ]
