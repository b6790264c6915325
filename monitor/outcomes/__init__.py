"""Outcome side of the monitor: joined inference and feedback folded into per-window sums
(satisfaction, ratings, task completion, takeover, bad cases, turns, judge scores, accuracy),
mergeable quantile sketches (DDSketch) for latency and tokens,
and rates with Wilson and Newcombe intervals for comparing them."""

from __future__ import annotations

from monitor.outcomes.fold import OUTCOME_METRICS, JoinedOutcome, OutcomeSum, fold_outcomes
from monitor.outcomes.intervals import (
    Rate,
    difference_interval,
    two_proportion_ztest,
    wilson_interval,
)
from monitor.outcomes.sketch import quantile_from_sketch, quantile_text, sketch_counts

__all__ = [
    "OUTCOME_METRICS",
    "JoinedOutcome",
    "OutcomeSum",
    "Rate",
    "difference_interval",
    "fold_outcomes",
    "quantile_from_sketch",
    "quantile_text",
    "sketch_counts",
    "two_proportion_ztest",
    "wilson_interval",
]
