"""Joined outcomes folded into per-window sums.

A joined outcome is one inference with the feedback that refers to it. :func:`fold_outcomes`
turns a batch of them into :class:`OutcomeSum` rows: a numerator and a denominator per
(inference window, model, version, segment, metric). Rows from different batches or workers
merge by adding numerators and denominators, so they can be stored as partial aggregates.

>>> o = JoinedOutcome("r1", "m", "v1", inference_time=125.0, feedback_time=400.0,
...                   prediction="yes", label="yes", rating=5, thumbs="down")
>>> [(s.window_start, s.metric, s.numerator, s.denominator) for s in fold_outcomes([o], 60)]
[(120.0, 'satisfaction', 1.0, 1.0), (120.0, 'rating', 5.0, 1.0), (120.0, 'accuracy', 1.0, 1.0)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitor.errors import ConfigError

__all__ = [
    "OUTCOME_METRICS",
    "JoinedOutcome",
    "OutcomeSum",
    "fold_outcomes",
    "satisfied",
]

OUTCOME_METRICS = (
    "satisfaction",
    "rating",
    "task_completion",
    "human_takeover",
    "bad_case",
    "turns",
    "judge_score",
    "accuracy",
)
SATISFIED_RATING = 4  # a rating of 4 or 5 on the 1-5 scale counts as satisfied


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
    counted: bool = True  # False when the inference came too late for its window (see monitor.windows)


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


def _flag(value: bool | None) -> tuple[float, float]:
    return (float(bool(value)), 1.0) if value is not None else (0.0, 0.0)


def _amount(value: float | None) -> tuple[float, float]:
    return (float(value), 1.0) if value is not None else (0.0, 0.0)


def satisfied(o: JoinedOutcome) -> float | None:
    """1.0 or 0.0 from the rating when there is one, else from the thumbs; None without either.

    One observation per outcome, so a satisfaction denominator never exceeds the outcomes counted.

    >>> satisfied(JoinedOutcome("a", "m", "v", 0.0, 1.0, rating=5, thumbs="down"))
    1.0
    """
    if o.rating is not None:
        return float(o.rating >= SATISFIED_RATING)
    if o.thumbs is not None:
        return float(o.thumbs == "up")
    return None


def _event_terms(o: JoinedOutcome) -> tuple[float, ...]:
    """Numerator and denominator of every metric for one outcome, in OUTCOME_METRICS order."""
    happy = satisfied(o)
    judged = o.label is not None and o.prediction is not None
    return (
        *_amount(happy),
        *_amount(o.rating),
        *_flag(o.task_completed),
        *_flag(o.human_takeover),
        *_flag(o.bad_case),
        *_amount(o.turns),
        *_amount(o.judge_score),
        float(judged and o.prediction == o.label),
        float(judged),
    )


def fold_outcomes(
    outcomes: Sequence[JoinedOutcome], window_seconds: int, segment_keys: Sequence[str] = ()
) -> list[OutcomeSum]:
    """Sum every metric per inference window, model, version and segment.

    Each outcome counts once in segment ``""`` and once more in ``"key=value"`` for every key of
    ``segment_keys`` it carries (outcomes without the key are left out of that key's rows).
    ``window_start`` is the start of the window of the *inference* time. Rows whose denominator
    is 0 are not returned. Accuracy counts outcomes that have both a prediction and a label.

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
    for key in segment_keys:
        members = [i for i, o in enumerate(outcomes) if key in o.segment]
        rows.append(np.array(members, dtype=np.int64))
        labels.append(
            np.array([f"{key}={outcomes[i].segment[key]}" for i in members], dtype=object)
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
