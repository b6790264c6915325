"""Experiment alerts: a decision replaced by another supersedes the old decision's alert (the
experiment's story goes on under the new one); an experiment back to ``continue`` clears it."""

from __future__ import annotations

from dataclasses import replace

from monitor.alerts.experiment_actions import decision_of, experiment_alerts
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
    assert state == {"prompt-v3": new}


def test_an_experiment_back_to_continue_clears_its_alert() -> None:
    going_on = replace(STOP, decision="continue", reason="")
    [old], state = experiment_alerts([going_on], {"prompt-v3": "stop"}, 1200.0)
    assert (old.rule, old.status, old.resolution, old.status_text) == (
        "experiment_stop",
        "resolved",
        "cleared",
        "resolved",
    )
    assert state == {}


def test_the_notification_that_closes_an_experiment_alert_is_the_alert_that_fired() -> None:
    """Same fingerprint, start, summary and evidence: every sink, ``monitor alerts`` and the
    dashboard pair the two (an alert's id is its fingerprint and start), however the experiment's
    numbers moved since it fired."""
    [fired], state = experiment_alerts([STOP], {}, 600.0, {"prompt-v3": "chat"})
    later = replace(STOP, decision="continue", reason="", n_control=9e3, n_treatment=9e3)
    [closing], state = experiment_alerts([later], state, 1200.0)
    assert closing == fired.resolved(1200.0)
    assert (closing.starts_at, closing.model, closing.summary) == (600.0, "chat", fired.summary)
    assert state == {}


def test_a_superseded_experiment_alert_keeps_its_start_and_names_its_successor() -> None:
    [fired], state = experiment_alerts([STOP], {}, 600.0)
    invalid = replace(STOP, decision="invalid", reason="sample ratio mismatch", n_control=2e4)
    [old, new], state = experiment_alerts([invalid], state, 1200.0)
    assert old == fired.superseded(new, 1200.0)
    assert (old.starts_at, new.starts_at, decision_of(state["prompt-v3"])) == (
        600.0,
        1200.0,
        "invalid",
    )


def test_a_bare_decision_saved_by_an_earlier_version_still_closes_its_alert() -> None:
    going_on = replace(STOP, decision="continue", reason="")
    [old], _ = experiment_alerts([going_on], {"prompt-v3": "stop"}, 1200.0)
    assert (old.rule, old.status, old.resolution) == ("experiment_stop", "resolved", "cleared")
    assert experiment_alerts([STOP], {"prompt-v3": "stop"}, 1300.0) == ([], {"prompt-v3": "stop"})
