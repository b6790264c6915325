"""A worker that stopped leading withdraws the leader-only series after the grace and exports its
drift series again when it leads again; its other series stay."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from monitor.adapters.leader_series import LeaderSeries
from monitor.adapters.prometheus_metrics import MonitorMetrics
from monitor.drift.windows import DriftRow
from monitor.experiments.config import ExperimentSpec
from monitor.experiments.report import experiment_report
from monitor.experiments.stats import Moments
from monitor.shadow.fold import ShadowSums
from monitor.shadow.report import shadow_report

X = {"model": "m", "model_version": "v1", "feature": "x"}
EXPERIMENT = {"experiment": "prompt-v3", "decision": "continue"}
PAIR = {"model": "m", "production_version": "v1", "shadow_version": "v2", "verdict": "collecting"}


def leader_metrics() -> MonitorMetrics:
    """A leader's registry: a drift score, an experiment report, a shadow report, and a counter."""
    rng = np.random.default_rng(7)
    m = MonitorMetrics(CollectorRegistry())
    drifted = DriftRow("x", "b1", 0.4, 0.3, 0.2, 500, 2000, "significant", 0.0, 0.0, 0.0)
    m.set_drift([("m", "v1", 0.0, [drifted])])
    spec = ExperimentSpec("prompt-v3", None, "a", "b", guardrails=())
    arms = {(v, "task_completion", ""): Moments.of(rng.binomial(1, 0.6, 300)) for v in ("a", "b")}
    m.experiments.set_reports([experiment_report(spec, arms, {"a": 300, "b": 300})])
    agreement = {"agreement": Moments.of(rng.binomial(1, 0.9, 50))}
    m.shadow.set_reports([shadow_report(ShadowSums("m", "v1", "v2", 50, agreement, 50, 0), {})])
    m.inferences.labels("m", "v1").inc(600)
    return m


def exported(m: MonitorMetrics) -> dict[str, float | None]:
    get = m.registry.get_sample_value
    return {
        "severity": get("monitor_drift_severity", X),
        "psi": get("monitor_drift_psi", X),
        "decision": get("monitor_experiment_decision", EXPERIMENT),
        "verdict": get("monitor_shadow_verdict", PAIR),
        "inferences": get("monitor_inferences_total", {"model": "m", "model_version": "v1"}),
    }


def test_an_old_leader_withdraws_after_the_grace_and_restores_drift_when_leading_again() -> None:
    m = leader_metrics()
    before = exported(m)
    assert before["severity"] == 2.0 and before["psi"] == 0.4
    assert before["decision"] is not None and before["verdict"] is not None
    series = LeaderSeries(m, grace_seconds=60.0)
    series.leading(now=100.0)

    assert not series.not_leading(now=150.0)  # a rebalance: within the grace, nothing blanks
    assert exported(m) == before
    assert series.not_leading(now=161.0)
    assert exported(m) == {
        "severity": None,
        "psi": None,
        "decision": None,
        "verdict": None,
        "inferences": 600.0,  # every worker's own counters stay
    }
    assert not series.not_leading(now=500.0)  # withdrawn once

    series.leading(now=600.0)
    assert exported(m) == {**before, "decision": None, "verdict": None}  # reports: next refresh


def test_a_worker_that_never_led_has_nothing_to_withdraw() -> None:
    series = LeaderSeries(MonitorMetrics(CollectorRegistry()), grace_seconds=0.0)
    assert not series.not_leading(now=1e9)
    with pytest.raises(ValueError, match="grace_seconds: -1.0 is negative"):
        LeaderSeries(MonitorMetrics(CollectorRegistry()), grace_seconds=-1.0)
