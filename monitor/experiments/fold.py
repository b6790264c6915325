"""Experiment moments as partials: per (window, model, version, experiment, variant, segment, metric).

A request counts in an experiment when its inference carries both ``experiment`` and
``variant``. Every batch adds, in the same insert as its offsets (exactly once, like every other
partial), for each group:

- ``exp:assigned``: the inference count (the sample-ratio check reads it);
- ``exp:<metric>:y`` and ``exp:<metric>:y2``: count n with Σy, and n with Σy², for the inference
  means (``latency_ms``, tokens) and, when feedback joins, for the outcome metrics and each
  ``kpi.<name>``; with a CUPED covariate x also ``:x``, ``:x2`` and ``:xy`` (Σx, Σx², Σxy).

The bucket is ``experiment \\t variant \\t segment`` (segment ``""`` for all, else ``key=value``).
Summing the partials of all windows gives each arm's :class:`~monitor.experiments.stats.Moments`.

>>> from monitor.contract.events import InferenceEvent
>>> e = InferenceEvent("r", 61.0, "m", "v2", latency_ms=300.0, experiment="x", variant="b")
>>> [(p.name, p.bucket, p.count, p.total) for p in fold_experiment_inferences([e], 60)][:2]
[('exp:assigned', 'x\\tb\\t', 1.0, 1.0), ('exp:latency_ms:y', 'x\\tb\\t', 1.0, 300.0)]
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from monitor.catalogue import KPI_PREFIX, OUTCOME_METRICS, experiment_metrics
from monitor.contract.events import InferenceEvent
from monitor.experiments.bound import UNDECLARED, ExperimentBound
from monitor.experiments.stats import Moments
from monitor.folding.partials import Partial
from monitor.outcomes.fold import JoinedOutcome
from monitor.segments import DEFAULT_MAX_SEGMENT_VALUES, kept_values, segment_labels

__all__ = [
    "ASSIGNED",
    "EXPERIMENT_PREFIX",
    "assigned_count",
    "bucket",
    "covariate_value",
    "fold_experiment_inferences",
    "fold_experiment_outcomes",
    "moments_from_sums",
    "parse_bucket",
]

EXPERIMENT_PREFIX = "exp:"
ASSIGNED = "exp:assigned"
_INFERENCE_MEANS = tuple(m.name for m in experiment_metrics() if m.source == "inference")
_STATS = {"y2": 2, "x": 3, "x2": 4, "xy": 5}  # position in Moments after n and Σy
_OUTCOMES = tuple(
    m for m in OUTCOME_METRICS if m.value is not None and m.kind in ("proportion", "mean")
)

Key = tuple[float, str, str, str]  # window_start, model, version, bucket


def bucket(experiment: str, variant: str, segment: str = "") -> str:
    return f"{experiment}\t{variant}\t{segment}"


def parse_bucket(value: str) -> tuple[str, str, str]:
    """(experiment, variant, segment) of a bucket."""
    experiment, variant, segment = value.split("\t", 2)
    return experiment, variant, segment


def assigned_count(partials: Iterable[Partial]) -> float:
    """The assignments the partials count (each once: the all-traffic segment ``''``).

    >>> events = [InferenceEvent(f"r{i}", 61.0, "m", "v1", experiment="x", variant="ab"[i % 2],
    ...                          segment={"region": "eu"}) for i in range(5)]
    >>> assigned_count(fold_experiment_inferences(events, 60, segment_keys=["region"]))
    5.0
    """
    return sum(p.count for p in partials if p.name == ASSIGNED and parse_bucket(p.bucket)[2] == "")


class _Sums:
    """n, Σy, Σy² per (group, metric), then the partials."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.sums: dict[tuple[Key, str], list[float]] = defaultdict(
            lambda: [0.0, 0.0, 0.0, -math.inf, 0.0, 0.0, 0.0]
        )
        self.with_x: set[tuple[Key, str]] = set()

    def add(
        self, key: Key, metric: str, value: float, event_time: float, x: float | None = None
    ) -> None:
        row = self.sums[(key, metric)]
        row[0] += 1
        row[1] += value
        row[2] += value * value
        row[3] = max(row[3], event_time)
        if x is not None:
            self.with_x.add((key, metric))
            row[4] += x
            row[5] += x * x
            row[6] += x * value

    def partials(self) -> list[Partial]:
        out = []
        for key, (n, total, squares, latest, sx, sx2, sxy) in self.sums.items():
            (start, model, version, bkt), metric = key
            if metric == ASSIGNED:
                out.append(Partial(start, self.window, model, version, ASSIGNED, bkt, n, n, latest))
                continue
            stats = [("y", total), ("y2", squares)]
            if key in self.with_x:
                stats += [("x", sx), ("x2", sx2), ("xy", sxy)]
            out += [
                Partial(
                    start,
                    self.window,
                    model,
                    version,
                    f"{EXPERIMENT_PREFIX}{metric}:{stat}",
                    bkt,
                    n,
                    value,
                    latest,
                )
                for stat, value in stats
            ]
        return out


def covariate_value(event: InferenceEvent, covariates: Mapping[str, str]) -> float | None:
    """The CUPED covariate of an inference: its numeric feature named for the experiment (missing: 0).

    A missing or non-numeric value counts as 0: the covariate only has to be fixed before
    assignment for the adjusted difference to stay unbiased, and randomisation spreads the zeros
    evenly over the arms.
    """
    name = covariates.get(event.experiment or "")
    if name is None:
        return None
    value = event.features.get(name)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def fold_experiment_inferences(
    events: Iterable[InferenceEvent],
    window: int,
    segment_keys: Sequence[str] = (),
    covariates: Mapping[str, str] | None = None,
    max_segment_values: int = DEFAULT_MAX_SEGMENT_VALUES,
    bound: ExperimentBound = UNDECLARED,
) -> list[Partial]:
    """Assignment counts and inference-metric moments of the events that are in an experiment.

    ``covariates`` maps an experiment to the feature used as its CUPED covariate (Σx, Σx², Σxy too);
    segments past ``max_segment_values`` values of a key as :mod:`monitor.segments` says; arms
    past ``bound`` as :mod:`monitor.experiments.bound` says (left out).
    """
    sums = _Sums(window)
    assigned = [e for e in events if e.experiment is not None and e.variant is not None]
    arms = bound.kept_arms((e.experiment, e.variant) for e in assigned)  # type: ignore[misc]  # both set
    if arms is not None:
        assigned = [e for e in assigned if (e.experiment, e.variant) in arms]
    kept = kept_values((e.segment for e in assigned), segment_keys, max_segment_values)
    for e in assigned:
        if e.experiment is None or e.variant is None:  # never here: for the type checker
            continue
        x = covariate_value(e, covariates or {})
        start = math.floor(e.timestamp / window) * window
        for segment in segment_labels(e.segment, segment_keys, kept):
            key = (float(start), e.model, e.model_version, bucket(e.experiment, e.variant, segment))
            sums.add(key, ASSIGNED, 1.0, e.timestamp)
            for name in _INFERENCE_MEANS:
                value = getattr(e, name)
                if value is not None:
                    sums.add(key, name, float(value), e.timestamp, x)
    return sums.partials()


def fold_experiment_outcomes(
    outcomes: Iterable[JoinedOutcome],
    window: int,
    segment_keys: Sequence[str] = (),
    max_segment_values: int = DEFAULT_MAX_SEGMENT_VALUES,
    bound: ExperimentBound = UNDECLARED,
) -> list[Partial]:
    """Outcome-metric and KPI moments of joined outcomes in an experiment (window of the inference);
    arms and KPI names past ``bound`` as :mod:`monitor.experiments.bound` says (left out)."""
    sums = _Sums(window)
    assigned = [o for o in outcomes if o.experiment is not None and o.variant is not None]
    arms = bound.kept_arms((o.experiment, o.variant) for o in assigned)  # type: ignore[misc]  # both set
    if arms is not None:
        assigned = [o for o in assigned if (o.experiment, o.variant) in arms]
    kpis = bound.kept_kpis(o.kpi for o in assigned)
    kept = kept_values((o.segment for o in assigned), segment_keys, max_segment_values)
    for o in assigned:
        if o.experiment is None or o.variant is None:  # never here: for the type checker
            continue
        start = math.floor(o.inference_time / window) * window
        values = [(m.name, m.value(o)) for m in _OUTCOMES]  # type: ignore[misc]  # _OUTCOMES all have a value
        values += [
            (f"{KPI_PREFIX}{name}", value)
            for name, value in o.kpi.items()
            if kpis is None or name in kpis
        ]
        for segment in segment_labels(o.segment, segment_keys, kept):
            key = (float(start), o.model, o.model_version, bucket(o.experiment, o.variant, segment))
            for name, value in values:
                if value is not None:
                    sums.add(key, name, float(value), o.feedback_time, o.covariate)
    return sums.partials()


def moments_from_sums(
    rows: Iterable[tuple[str, str, float, float]],
) -> tuple[dict[str, dict[tuple[str, str, str], Moments]], dict[str, dict[str, float]]]:
    """Merge stored sums ``(name, bucket, Σcount, Σtotal)`` into moments and assignment counts.

    Returns ``{experiment: {(variant, metric, segment): Moments}}`` and
    ``{experiment: {variant: assigned}}`` (assignment of segment ``""`` only).
    """
    parts: dict[tuple[str, str, str, str], list[float]] = defaultdict(lambda: [0.0] * 6)
    assigned: dict[str, dict[str, float]] = defaultdict(dict)
    for name, bkt, count, total in rows:
        experiment, variant, segment = parse_bucket(bkt)
        if name == ASSIGNED:
            if segment == "":
                assigned[experiment][variant] = assigned[experiment].get(variant, 0.0) + count
            continue
        metric, stat = name[len(EXPERIMENT_PREFIX) :].rsplit(":", 1)
        row = parts[(experiment, variant, metric, segment)]
        if stat == "y":
            row[0] += count
            row[1] += total
        elif stat in _STATS:
            row[_STATS[stat]] += total
    moments: dict[str, dict[tuple[str, str, str], Moments]] = defaultdict(dict)
    for (experiment, variant, metric, segment), row in parts.items():
        moments[experiment][(variant, metric, segment)] = Moments(*row)
    return dict(moments), dict(assigned)
