"""Experiment alerts: a decision replaced by another supersedes the old decision's alert (the
experiment's story goes on under the new one); an experiment back to ``continue`` clears it."""

from __future__ import annotations

from dataclasses import replace

from monitor.alerts.experiment_actions import experiment_alerts
from monitor.experiments.report import ExperimentSummary

STOP = ExperimentSummary(
    "prompt-v3", "control", "v2", 5e3, 5e3, 0.5, 0.5, False, "stop", "guardrail harmed", None, 1e4
)


def test_a_decision_replaced_by_another_is_superseded_by_the_new_decisions_alert() -> None:
    invalid = replace(STOP, decision="invalid", reason="sample ratio mismatch")
    [old, new], state = experiment_alerts([invalid], {"prompt-v3": "stop"}, 1200.0)
    assert (old.rule, old.status, old.ends_at, old.resolution) == (
        "experiment_stop",
        "resolved",
        1200.0,
        "superseded",
    )
    assert old.status_text == "superseded by experiment_invalid (fix_assignment)"
    assert old.evidence["decision"] == "stop"  # the old decision's evidence, plus its successor
    assert (new.rule, new.status, new.resolution) == ("experiment_invalid", "firing", None)
    assert state == {"prompt-v3": "invalid"}


def test_an_experiment_back_to_continue_clears_its_alert() -> None:
    going_on = replace(STOP, decision="continue", reason="")
    [old], state = experiment_alerts([going_on], {"prompt-v3": "stop"}, 1200.0)
    assert (old.rule, old.status, old.resolution, old.status_text) == (
        "experiment_stop",
        "resolved",
        "cleared",
        "resolved",
    )
    assert state == {"prompt-v3": "continue"}
