"""The experiment rows of the decision table: what to do when an A/B experiment reaches a decision.

==============  =====================  ===========  =============================================
decision        action                 severity     says
==============  =====================  ===========  =============================================
``invalid``     ``fix_assignment``     critical     sample-ratio mismatch: fix the assignment,
                                                    restart the experiment under a new name
``stop``        ``stop_experiment``    warning      a guardrail harmed or the primary metric
                                                    worse: route all traffic to control
``ship``        ``ship_treatment``     info         the primary metric is better and no guardrail
                                                    harmed: roll the treatment out
``continue``    none                   –            keep collecting
==============  =====================  ===========  =============================================

:func:`experiment_alerts` turns the decisions of one run into alert notifications: one firing
alert when an experiment reaches a decision; when another decision replaces it, the old alert is
superseded by the new one (the experiment's story goes on under it), and when the experiment goes
back to ``continue`` it is resolved as cleared.

>>> from monitor.experiments.report import ExperimentSummary
>>> s = ExperimentSummary("prompt-v3", "control", "treatment", 5e3, 4e3, 1e-20, 1e-12, True, "invalid",
...                       "sample ratio mismatch", None, 5000.0)
>>> alerts, state = experiment_alerts([s], {}, now=100.0, models={"prompt-v3": "chat"})
>>> alerts[0].rule, alerts[0].severity, alerts[0].recommended_action, decision_of(state["prompt-v3"])
('experiment_invalid', 'critical', 'fix_assignment', 'invalid')
>>> alerts[0].runbook_url
'docs/alerts.md#experiments'
>>> experiment_alerts([s], state, now=200.0)[0]
[]

The state keeps each experiment's firing alert, so the notification that closes it is that alert
(its start and summary) and every sink and ``monitor alerts`` pair the two:

>>> [closing], state = experiment_alerts([replace(s, decision="continue")], state, now=300.0)
>>> (closing.status, closing.starts_at, closing.ends_at, closing.summary == alerts[0].summary), state
(('resolved', 100.0, 300.0, True), {})

The same decision for another cause (another guardrail harmed, the primary metric now) sends
nothing, but the open alert (what the leader posts to Alertmanager again, what the store's
incident row says, and what closes it later) takes the current reason; an effect that only moved
keeps it:

>>> stop = replace(s, decision="stop", reason="guardrail latency_ms harmed: +15 (interval +2 to +28)")
>>> _, state = experiment_alerts([stop], {}, now=100.0)
>>> moved = replace(stop, reason="guardrail latency_ms harmed: +16 (interval +3 to +29)")
>>> experiment_alerts([moved], state, now=150.0) == ([], state)
True
>>> other = replace(stop, reason="guardrail human_takeover harmed: +0.11 (interval +0.09 to +0.13)")
>>> sent, state = experiment_alerts([other], state, now=200.0)
>>> sent, state["prompt-v3"].summary.split(" (")[1], state["prompt-v3"].starts_at
([], 'guardrail human_takeover harmed: +0.11', 100.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from monitor.alerts.state import Alert, fingerprint
from monitor.experiments.report import ExperimentSummary

__all__ = [
    "EXPERIMENT_ACTIONS",
    "EXPERIMENT_RUNBOOK",
    "Fired",
    "cause",
    "decision_of",
    "experiment_alerts",
]

EXPERIMENT_RUNBOOK = "docs/alerts.md#experiments"

# experiment -> the alert its decision fired; a bare decision is what a version before this one saved
Fired = Mapping[str, "Alert | str"]

# decision -> (action, severity, advice)
EXPERIMENT_ACTIONS: dict[str, tuple[str, str, str]] = {
    "invalid": (
        "fix_assignment",
        "critical",
        (
            "The variants' counts do not match the planned split (sequential sample-ratio test, p < 0.001): "
            "the assignment or the logging is broken and every comparison of this experiment is biased. Check "
            "the randomisation, bots and redirects, and events lost for one variant; then restart the "
            "experiment under a new name."
        ),
    ),
    "stop": (
        "stop_experiment",
        "warning",
        (
            "A guardrail is harmed or the primary metric is worse, with an always-valid interval: route all "
            "traffic back to control and look at the harmed metric per segment."
        ),
    ),
    "ship": (
        "ship_treatment",
        "info",
        (
            "The primary metric is better with an always-valid interval and no guardrail is harmed: the "
            "treatment can be rolled out (the interval is valid now, however often it was looked at)."
        ),
    ),
}


def _alert(s: ExperimentSummary, model: str, now: float, runbook_url: str) -> Alert:
    action, severity, advice = EXPERIMENT_ACTIONS[s.decision]
    rule = f"experiment_{s.decision}"
    evidence = {
        "experiment": s.experiment,
        "control": s.control,
        "treatment": s.treatment,
        "n_control": s.n_control,
        "n_treatment": s.n_treatment,
        "srm_p_value": s.srm_p_value,
        "srm_sequential_p_value": s.srm_sequential_p_value,
        "decision": s.decision,
        "reason": s.reason,
        "report": f"monitor experiment report --experiment {s.experiment}",
    }
    alert = Alert.firing(
        rule,
        severity,
        model,
        s.treatment,
        now,
        f"experiment {s.experiment}: {s.decision} ({s.reason})",
        description=advice,
        recommended_action=action,
        evidence=evidence,
        runbook_url=runbook_url,
    )
    return replace(alert, fingerprint=fingerprint(rule, f"experiment:{s.experiment}", s.treatment))


def cause(reason: str) -> str:
    """What a decision's reason names, without its figures (which move with every batch).

    >>> cause("guardrail latency_ms harmed: +15 (interval +2 to +28, margin 0)")
    'guardrail latency_ms harmed'
    """
    return reason.split(":", 1)[0]


def decision_of(fired: Alert | str) -> str:
    """The decision a saved experiment alert (or a bare decision, saved by an earlier version) is for."""
    return fired if isinstance(fired, str) else str(fired.evidence.get("decision", "continue"))


def experiment_alerts(
    summaries: Sequence[ExperimentSummary],
    previous: Fired,
    now: float,
    models: Mapping[str, str] | None = None,
    runbook_url: str = EXPERIMENT_RUNBOOK,
) -> tuple[list[Alert], dict[str, Alert | str]]:
    """Alerts for the decisions that changed since ``previous`` (experiment -> its firing alert),
    and the new state; ``runbook_url``: :data:`EXPERIMENT_RUNBOOK`, absolute once
    MONITOR_RUNBOOK_BASE_URL is set."""
    models = models or {}
    alerts: list[Alert] = []
    state = dict(previous)
    for s in summaries:
        fired = previous.get(s.experiment)
        before = "continue" if fired is None else decision_of(fired)
        if before == s.decision:
            if isinstance(fired, Alert) and cause(str(fired.evidence.get("reason", ""))) != cause(
                s.reason
            ):  # the open alert says the current cause, with no new notification
                state[s.experiment] = _alert(s, fired.model, fired.starts_at, runbook_url)
            continue
        model = models.get(s.experiment, "")
        new = _alert(s, model, now, runbook_url) if s.decision in EXPERIMENT_ACTIONS else None
        if before in EXPERIMENT_ACTIONS:
            old = (
                fired
                if isinstance(
                    fired, Alert
                )  # the alert that went out: the closing one pairs with it
                else _alert(replace(s, decision=before), model, now, runbook_url)  # saved bare
            )
            # another decision goes on with the experiment's story; back to continue clears it
            alerts.append(old.superseded(new, now) if new else old.resolved(now))
        if new:
            state[s.experiment] = new
            alerts.append(new)
        else:
            state.pop(s.experiment, None)
    return alerts, state
