"""Joined outcomes folded into per-window sums.

A joined outcome is one inference with the feedback that refers to it. :func:`fold_outcomes`
turns a batch of them into :class:`OutcomeSum` rows: a numerator and a denominator per
(inference window, model, version, segment, metric). Rows from different batches or workers
merge by adding numerators and denominators, so they can be stored as partial aggregates.

Which metrics there are and how a pair contributes to each is declared in
:data:`monitor.catalogue.OUTCOME_METRICS`.

>>> o = JoinedOutcome("r1", "m", "v1", inference_time=125.0, feedback_time=400.0,
...                   prediction="Yes", label="yes", rating=5, thumbs="down")
>>> [(s.window_start, s.metric, s.numerator, s.denominator) for s in fold_outcomes([o], 60)]
[(120.0, 'satisfaction', 1.0, 1.0), (120.0, 'rating', 5.0, 1.0), (120.0, 'accuracy', 1.0, 1.0)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitor.catalogue import OUTCOME_METRICS as CATALOGUE
from monitor.errors import ConfigError
from monitor.segments import DEFAULT_MAX_SEGMENT_VALUES, kept_values, segment_label

__all__ = [
    "OUTCOME_METRICS",
    "JoinedOutcome",
    "OutcomeSum",
    "fold_outcomes",
]

# Outcome metrics folded per pair, in catalogue order (quantiles come from sketches).
_FOLDED = tuple(m for m in CATALOGUE if m.value is not None)
OUTCOME_METRICS: tuple[str, ...] = tuple(m.name for m in _FOLDED)


@dataclass(frozen=True, slots=True)
class JoinedOutcome:
    """One inference joined with its (combined) feedback; None means "not reported"."""

    request_id: str
    model: str
    model_version: str
    inference_time: float
    feedback_time: float
    prediction: Any = None
    label: Any = None
    rating: int | None = None
    thumbs: str | None = None
    task_completed: bool | None = None
    human_takeover: bool | None = None
    bad_case: bool | None = None
    turns: int | None = None
    judge_score: float | None = None
    latency_ms: float | None = None
    segment: Mapping[str, str] = field(default_factory=dict)
    experiment: str | None = None
    variant: str | None = None
    kpi: Mapping[str, float] = field(default_factory=dict)
    covariate: float | None = (
        None  # the experiment's CUPED covariate, from the inference's features
    )
    counted: bool = (
        True  # False when the inference came too late for its window (see monitor.folding.windows)
    )


@dataclass(frozen=True, slots=True)
class OutcomeSum:
    """Partial aggregate of one metric: the rate or mean is ``numerator / denominator``."""

    window_start: float
    model: str
    model_version: str
    segment: str  # "" for all traffic, else "key=value"
    metric: str
    numerator: float
    denominator: float


def _event_terms(o: JoinedOutcome) -> list[float]:
    """Numerator and denominator of every folded metric for one outcome, in OUTCOME_METRICS order."""
    terms: list[float] = []
    for metric in _FOLDED:
        value = metric.value(o)  # type: ignore[misc]  # _FOLDED holds only metrics with a value
        terms += (0.0, 0.0) if value is None else (value, 1.0)
    return terms


def fold_outcomes(
    outcomes: Sequence[JoinedOutcome],
    window_seconds: int,
    segment_keys: Sequence[str] = (),
    max_segment_values: int = DEFAULT_MAX_SEGMENT_VALUES,
) -> list[OutcomeSum]:
    """Sum every metric per inference window, model, version and segment.

    Each outcome counts once in segment ``""`` and once more in ``"key=value"`` for every key of
    ``segment_keys`` it carries (outcomes without the key are left out of that key's rows); past
    ``max_segment_values`` values of a key the rarer ones count as ``key=(other)``
    (:mod:`monitor.segments`).
    ``window_start`` is the start of the window of the *inference* time. Rows whose denominator
    is 0 are not returned; see :data:`monitor.catalogue.OUTCOME_METRICS` for what each pair adds.

    Examples
    --------
    >>> a = JoinedOutcome("a", "m", "v", 10.0, 20.0, task_completed=True, segment={"lang": "en"})
    >>> b = JoinedOutcome("b", "m", "v", 50.0, 90.0, task_completed=False, segment={"lang": "de"})
    >>> [(s.segment, s.numerator, s.denominator) for s in fold_outcomes([a, b], 60, ["lang"])]
    [('', 1.0, 2.0), ('lang=de', 0.0, 1.0), ('lang=en', 1.0, 1.0)]
    """
    if window_seconds <= 0:
        raise ConfigError(f"window_seconds: {window_seconds} must be a positive number of seconds")
    if not outcomes:
        return []
    terms = np.array([_event_terms(o) for o in outcomes], dtype=np.float64)
    starts = (
        np.floor(np.array([o.inference_time for o in outcomes]) / window_seconds) * window_seconds
    )
    models = np.array([f"{o.model}\x00{o.model_version}" for o in outcomes], dtype=object)
    # One row per (outcome, segment it belongs to): the whole traffic first, then each key.
    rows = [np.arange(len(outcomes))]
    labels = [np.full(len(outcomes), "", dtype=object)]
    kept = kept_values((o.segment for o in outcomes), segment_keys, max_segment_values)
    for key in segment_keys:
        members = [i for i, o in enumerate(outcomes) if key in o.segment]
        rows.append(np.array(members, dtype=np.int64))
        labels.append(
            np.array(
                [segment_label(key, outcomes[i].segment[key], kept) for i in members], dtype=object
            )
        )
    row_event = np.concatenate(rows)
    row_segment = np.concatenate(labels)
    _, start_code = np.unique(starts[row_event], return_inverse=True)
    _, model_code = np.unique(models[row_event], return_inverse=True)
    _, segment_code = np.unique(row_segment, return_inverse=True)
    codes = np.stack([start_code, model_code, segment_code], axis=1)
    groups, first, group_of = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    group_of = group_of.reshape(-1)
    sums = np.zeros((len(groups), terms.shape[1]))
    np.add.at(sums, group_of, terms[row_event])
    result = []
    for g, row in enumerate(first):
        event = outcomes[row_event[row]]
        window_start = float(starts[row_event[row]])
        for m, metric in enumerate(OUTCOME_METRICS):
            numerator, denominator = sums[g, 2 * m], sums[g, 2 * m + 1]
            if denominator > 0:
                result.append(
                    OutcomeSum(
                        window_start,
                        event.model,
                        event.model_version,
                        str(row_segment[row]),
                        metric,
                        float(numerator),
                        float(denominator),
                    )
                )
    return result
