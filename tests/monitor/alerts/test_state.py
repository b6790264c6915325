"""The incident state machine: for_windows, min_samples, one firing per incident, cooldown."""

from __future__ import annotations

import json

from monitor.alerts.rules import AlertRule
from monitor.alerts.state import Alert, AlertTracker, fingerprint

KEY = ("chat", "v1")
W = 300.0


def rule(**kw: object) -> AlertRule:
    base: dict[str, object] = {"min_samples": 100, "for_windows": 1, "cooldown_seconds": 3600}
    return AlertRule(
        "takeover", "metric", "warning", "human_takeover_rate", "above", 0.15, **{**base, **kw}
    )  # type: ignore[arg-type]


def run(
    tracker: AlertTracker,
    r: AlertRule,
    breaches: list[bool],
    samples: int = 500,
    key: tuple[str, ...] = KEY,
    start: float = 0.0,
) -> list[str | None]:
    return [tracker.observe(r, key, b, samples, start + i * W) for i, b in enumerate(breaches)]


def test_fires_after_for_windows_consecutive_breaches() -> None:
    r = rule(for_windows=3)
    assert run(AlertTracker(), r, [True, True, False, True, True, True]) == [
        None,
        None,
        None,
        None,
        None,
        "fire",
    ]


def test_fires_once_per_incident_then_resolves() -> None:
    t = AlertTracker()
    assert run(t, rule(), [True, True, True, True, False]) == ["fire", None, None, None, "resolve"]
    assert not t.is_firing(rule(), KEY) and t.incident_start(rule(), KEY) is None


def test_incident_start_is_the_firing_time() -> None:
    t = AlertTracker()
    run(t, rule(for_windows=2), [True, True, True])
    assert t.is_firing(rule(), KEY) and t.incident_start(rule(), KEY) == W


def test_windows_below_min_samples_carry_no_evidence() -> None:
    t = AlertTracker()
    r = rule(min_samples=100, for_windows=2)
    assert t.observe(r, KEY, True, 99, 0) is None
    assert t.observe(r, KEY, True, 100, W) is None  # the thin window did not count
    assert t.observe(r, KEY, True, 100, 2 * W) == "fire"
    assert t.observe(r, KEY, False, 5, 3 * W) is None  # too thin to resolve
    assert t.observe(r, KEY, False, 100, 4 * W) == "resolve"


def test_cooldown_blocks_a_new_firing_until_it_passes() -> None:
    t = AlertTracker()
    r = rule(cooldown_seconds=3 * W)
    assert run(t, r, [True, False]) == ["fire", "resolve"]  # resolved at W: cooldown until 4W
    assert [
        t.observe(r, KEY, True, 500, now) for now in (2 * W, 3 * W, 4 * W - 1, 4 * W, 5 * W)
    ] == [None, None, None, "fire", None]


def test_zero_cooldown_refires_on_the_next_breach() -> None:
    assert run(AlertTracker(), rule(cooldown_seconds=0), [True, False, True]) == [
        "fire",
        "resolve",
        "fire",
    ]


def test_keys_and_rules_are_independent() -> None:
    t = AlertTracker()
    other = AlertRule("other", "metric", "warning", "accuracy", "above", 0.1, min_samples=0)
    assert t.observe(rule(), ("chat", "v1"), True, 500, 0) == "fire"
    assert t.observe(rule(), ("chat", "v2"), True, 500, 0) == "fire"
    assert t.observe(other, ("chat", "v1"), True, 500, 0) == "fire"
    assert t.observe(rule(), ("chat", "v2"), False, 500, W) == "resolve"
    assert t.is_firing(rule(), ("chat", "v1")) and not t.is_firing(rule(), ("chat", "v2"))


def test_state_round_trips_through_json_mid_incident_and_mid_cooldown() -> None:
    r = rule(for_windows=2, cooldown_seconds=2 * W)
    t = AlertTracker()
    run(
        t, r, [True, True, False, True], key=("a", "1")
    )  # fired, resolved at 2W, cooling down, 1 breach
    run(t, r, [True], key=("b", "1"))  # one breach counted
    restored = AlertTracker.from_state(json.loads(json.dumps(t.to_state())))
    for tracker in (t, restored):
        assert tracker.observe(r, ("a", "1"), True, 500, 4 * W) == "fire"  # cooldown ended at 4W
        assert tracker.observe(r, ("b", "1"), True, 500, W) == "fire"
    assert restored.to_state() == t.to_state()


def test_fingerprint_is_stable_and_distinguishes_series() -> None:
    assert fingerprint("r", "m", "v1") == fingerprint("r", "m", "v1")
    assert (
        len(
            {
                fingerprint("r", "m", "v1"),
                fingerprint("r", "m", "v2"),
                fingerprint("r2", "m", "v1"),
                fingerprint("r", "mv", "1"),
            }
        )
        == 4
    )


def test_alert_firing_and_resolved_share_the_fingerprint() -> None:
    a = Alert.firing(
        "takeover",
        "warning",
        "chat",
        "v1",
        600.0,
        "too many takeovers",
        recommended_action="retrain_concept_drift",
        evidence={"n": 3},
    )
    assert (
        a.status == "firing"
        and a.ends_at is None
        and a.fingerprint == fingerprint("takeover", "chat", "v1")
    )
    r = a.resolved(900.0)
    assert (r.status, r.starts_at, r.ends_at, r.fingerprint) == (
        "resolved",
        600.0,
        900.0,
        a.fingerprint,
    )
    assert json.loads(json.dumps(r.to_dict()))["evidence"] == {"n": 3}


def test_a_superseded_alert_resolves_and_says_which_alert_took_the_incident_over() -> None:
    drift = Alert.firing(
        "drift", "warning", "chat", "v2", 600.0, "input drift", recommended_action="investigate"
    )
    rollback = Alert.firing(
        "takeover", "critical", "chat", "v2", 900.0, "roll back", recommended_action="rollback"
    )
    superseded = drift.superseded(rollback, 900.0)
    assert (superseded.status, superseded.ends_at, superseded.fingerprint) == (
        "resolved",
        900.0,
        drift.fingerprint,
    )
    assert superseded.evidence == {"superseded_by": {"rule": "takeover", "action": "rollback"}}
    assert [a.resolution for a in (drift, drift.resolved(900.0), superseded)] == [
        None,
        "cleared",
        "superseded",
    ]
    assert [a.status_text for a in (drift, drift.resolved(900.0), superseded)] == [
        "firing",
        "resolved",
        "superseded by takeover (rollback)",
    ]
    wire = json.loads(json.dumps(superseded.to_dict()))
    assert (wire["status"], wire["resolution"]) == ("resolved", "superseded")
    assert json.loads(json.dumps(drift.to_dict()))["resolution"] is None


def test_a_payload_saved_before_resolution_existed_reads_back_the_same() -> None:
    """An outbox row or an open incident written by an older version has no ``resolution``: it
    reads back equal, and is sent with the field derived from its evidence."""
    drift = Alert.firing("drift", "warning", "chat", "v2", 600.0, "input drift")
    rollback = Alert.firing("takeover", "critical", "chat", "v2", 900.0, "roll back")
    for alert, resolution in (
        (drift, None),
        (drift.resolved(900.0), "cleared"),
        (drift.superseded(rollback, 900.0), "superseded"),
    ):
        old = {
            k: v for k, v in json.loads(json.dumps(alert.to_dict())).items() if k != "resolution"
        }
        assert Alert.from_dict(old) == alert
        assert Alert.from_dict(old).to_dict()["resolution"] == resolution
        assert Alert.from_dict(alert.to_dict()) == alert
