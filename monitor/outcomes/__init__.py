"""Outcome side of the monitor: joined inference and feedback folded into per-window sums
(satisfaction, ratings, task completion, takeover, bad cases, turns, judge scores, accuracy),
mergeable latency histograms, and rates with Wilson and Newcombe intervals for comparing them."""

from __future__ import annotations

from monitor.outcomes.fold import (
    LATENCY_BUCKETS_MS,
    OUTCOME_METRICS,
    JoinedOutcome,
    OutcomeSum,
    fold_outcomes,
    latency_histogram,
    quantile_from_histogram,
)
from monitor.outcomes.intervals import (
    Rate,
    difference_interval,
    two_proportion_ztest,
    wilson_interval,
)

__all__ = [
    "LATENCY_BUCKETS_MS",
    "OUTCOME_METRICS",
    "JoinedOutcome",
    "OutcomeSum",
    "Rate",
    "difference_interval",
    "fold_outcomes",
    "latency_histogram",
    "quantile_from_histogram",
    "two_proportion_ztest",
    "wilson_interval",
]
