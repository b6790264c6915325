"""Experiment partials: merged in any batching they give each arm's exact moments."""

from __future__ import annotations

import json

import numpy as np
import pytest

from monitor.contract.events import InferenceEvent
from monitor.experiments.fold import (
    fold_experiment_inferences,
    fold_experiment_outcomes,
    moments_from_sums,
)
from monitor.experiments.stats import Moments
from monitor.folding.pipeline import BatchConfig, RawMessage, process_batch
from monitor.outcomes.fold import JoinedOutcome


def _sums(partials):
    return [(p.name, p.bucket, p.count, p.total) for p in partials]


def test_any_batching_gives_the_moments_of_the_whole_stream():
    rng = np.random.default_rng(0)
    events = [
        InferenceEvent(
            f"r{i}",
            float(i),
            "m",
            "v1",
            latency_ms=float(rng.integers(1, 900)),
            experiment="x",
            variant=("a", "b")[i % 2],
            segment={"region": ("eu", "us")[i % 3 > 0]},
        )
        for i in range(600)
    ]
    whole = fold_experiment_inferences(events, 60, ["region"])
    cut = [
        p
        for k in range(0, 600, 77)
        for p in fold_experiment_inferences(events[k : k + 77], 60, ["region"])
    ]
    moments_whole, assigned = moments_from_sums(_sums(whole))
    moments_cut, assigned_cut = moments_from_sums(_sums(cut))
    assert assigned == assigned_cut == {"x": {"a": 300.0, "b": 300.0}}
    latencies = np.array([e.latency_ms for e in events if e.variant == "a"])
    assert moments_whole["x"][("a", "latency_ms", "")] == Moments.of(latencies)
    assert moments_cut == moments_whole
    eu = np.array(
        [e.latency_ms for e in events if e.variant == "b" and e.segment["region"] == "eu"]
    )
    assert moments_whole["x"][("b", "latency_ms", "region=eu")] == Moments.of(eu)


def test_outcomes_and_kpis_fold_per_variant_and_requests_outside_experiments_are_ignored():
    outcomes = [
        JoinedOutcome(
            f"r{i}",
            "m",
            "v",
            10.0,
            20.0,
            task_completed=i % 3 == 0,
            experiment="x",
            variant=("a", "b")[i % 2],
            kpi={"revenue": float(i)},
        )
        for i in range(10)
    ]
    outcomes.append(JoinedOutcome("z", "m", "v", 10.0, 20.0, task_completed=True))
    moments, _ = moments_from_sums(_sums(fold_experiment_outcomes(outcomes, 60)))
    assert moments["x"][("a", "task_completion", "")] == Moments(
        5, 2, 2
    )  # r0, r6 of r0 r2 r4 r6 r8
    assert moments["x"][("b", "kpi.revenue", "")] == Moments(5, 25, 1 + 9 + 25 + 49 + 81)


def test_the_pipeline_keeps_experiment_and_variant_of_a_valid_inference():
    event = {
        "request_id": "r",
        "timestamp": 1_767_225_600.0,
        "model": "m",
        "model_version": "v",
        "experiment": "x",
        "variant": "a",
        "latency_ms": 5,
    }
    out = process_batch(
        [RawMessage("i", 0, 0, json.dumps(event).encode(), "inference")],
        {},
        BatchConfig(
            window_seconds=60, allowed_lateness=30, max_future_skew=300, now=1_767_225_700.0
        ),
    )
    assert out.inferences[0].experiment == "x" and out.inferences[0].variant == "a"


def test_a_declared_covariate_is_folded_and_the_report_adjusts_by_it():
    from dataclasses import replace

    from monitor.experiments.config import ExperimentSpec
    from monitor.experiments.report import experiment_report

    rng = np.random.default_rng(4)
    prior, missing = rng.normal(500, 100, 4000), rng.random(4000) < 0.01  # missing: counted as 0
    events = [
        InferenceEvent(
            f"r{i}",
            1.0,
            "m",
            "v",
            latency_ms=float(prior[i] + rng.normal(0, 20)),
            features={} if missing[i] else {"prior_latency": float(prior[i])},
            experiment="x",
            variant=("a", "b")[i % 2],
        )
        for i in range(4000)
    ]
    moments, assigned = moments_from_sums(
        _sums(fold_experiment_inferences(events, 60, (), {"x": "prior_latency"}))
    )
    a = moments["x"][("a", "latency_ms", "")]
    xs = np.array([e.features.get("prior_latency", 0.0) for e in events if e.variant == "a"])
    ys = np.array([e.latency_ms for e in events if e.variant == "a"])
    assert a.sum_x == pytest.approx(xs.sum()) and a.sum_xy == pytest.approx((xs * ys).sum())
    spec = ExperimentSpec("x", "m", "a", "b", primary_metric="latency_ms", guardrails=())
    (plain,), _ = experiment_report(spec, moments["x"], assigned["x"])
    (adjusted,), _ = experiment_report(
        replace(spec, covariate="prior_latency"), moments["x"], assigned["x"]
    )
    assert adjusted.ci_high - adjusted.ci_low < 0.7 * (plain.ci_high - plain.ci_low)
    assert adjusted.ci_low < 0 < adjusted.ci_high  # no true difference
