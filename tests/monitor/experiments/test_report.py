"""The experiment report's summary when the declaration and the events disagree on the variants."""

from __future__ import annotations

import numpy as np

from monitor.experiments.config import ExperimentSpec
from monitor.experiments.report import experiment_report
from monitor.experiments.stats import Moments


def arms(*variants: str) -> dict[tuple[str, str, str], Moments]:
    rng = np.random.default_rng(3)
    return {(v, "task_completion", ""): Moments.of(rng.binomial(1, 0.6, 500)) for v in variants}


def test_declared_variants_the_events_do_not_carry_are_named_with_those_they_do() -> None:
    # before: "no task_completion observed in both variants yet", n 0 and 0, for ever, while
    # 1,000 requests had come in as blue and green
    spec = ExperimentSpec("color", None, "control", "treatment")
    _, summary = experiment_report(spec, arms("blue", "green"), {"blue": 500, "green": 500})
    assert summary.decision == "continue"
    assert summary.reason == (
        "no task_completion observed in both variants yet; no request carries the declared "
        "control 'control' nor the declared treatment 'treatment'; the events' variants are "
        "blue, green: check control and treatment in MONITOR_EXPERIMENTS"
    )


def test_one_misnamed_variant_is_named_beside_the_sample_ratio_mismatch_it_causes() -> None:
    spec = ExperimentSpec("color", None, "blue", "treatment")
    _, summary = experiment_report(spec, arms("blue", "green"), {"blue": 500, "green": 500})
    assert summary.decision == "invalid"
    assert summary.reason.endswith(
        "; no request carries the declared treatment 'treatment'; the events' variants are "
        "blue, green: check control and treatment in MONITOR_EXPERIMENTS"
    )


def test_a_declared_arm_without_traffic_yet_is_no_misnaming() -> None:
    spec = ExperimentSpec("color", None, "blue", "green")
    _, summary = experiment_report(spec, arms("blue"), {"blue": 500})
    assert "MONITOR_EXPERIMENTS" not in summary.reason
    _, summary = experiment_report(spec, arms("blue", "green"), {"blue": 500, "green": 500})
    assert "MONITOR_EXPERIMENTS" not in summary.reason
