from __future__ import annotations

from collections import Counter

import numpy as np

from monitor.contract.events import validate_feedback, validate_inference
from monitor.tools.simulator import TrafficSimulator

START = 1767225600.0


def run(
    sim: TrafficSimulator, seconds: int, per_second: int = 5
) -> tuple[list[dict], list[tuple[float, dict]]]:
    inferences, feedback = [], []
    for step in range(seconds):
        now = START + step
        inferences += sim.inferences(now=now, n=per_second)
        feedback += [(now, f) for f in sim.due_feedback(now)]
    return inferences, feedback


def test_same_seed_same_events() -> None:
    a, b = TrafficSimulator(seed=3), TrafficSimulator(seed=3)
    assert run(a, 30) == run(b, 30)
    assert a.pending_feedback == b.pending_feedback


def test_different_seeds_differ() -> None:
    assert run(TrafficSimulator(seed=3), 10)[0] != run(TrafficSimulator(seed=4), 10)[0]


def test_every_event_validates() -> None:
    sim = TrafficSimulator(seed=11)
    inferences, feedback = run(sim, 40)
    sim.drifted = True
    more_inf, more_fb = run(sim, 40)
    assert len(inferences + more_inf) == 400
    for event in inferences + more_inf:
        ev = validate_inference(event, now=event["timestamp"])
        assert ev.model == "support-assistant" and ev.model_version in ("v1", "v2")
        assert ev.deployment == ("canary" if ev.model_version == "v2" else "production")
    assert len(feedback + more_fb) > 100
    for now, event in feedback + more_fb:
        validate_feedback(event, now=now, max_future_skew=0.001)


def test_request_ids_are_unique() -> None:
    inferences, _ = run(TrafficSimulator(seed=1), 20)
    ids = [e["request_id"] for e in inferences]
    assert len(set(ids)) == len(ids)


def test_feedback_is_due_only_after_its_inference() -> None:
    sim = TrafficSimulator(seed=5, max_feedback_delay=8.0)
    inferences, feedback = run(sim, 60)
    sent_at = {e["request_id"]: e["timestamp"] for e in inferences}
    assert feedback
    for released_at, event in feedback:
        inferred_at = sent_at[event["request_id"]]
        assert inferred_at + 1.0 <= event["timestamp"] <= inferred_at + 8.0 + 0.001
        assert event["timestamp"] <= released_at + 0.001
        assert released_at - event["timestamp"] < 1.0  # released on the first tick it was due
    releases: dict[float, list[float]] = {}
    for released_at, event in feedback:
        releases.setdefault(released_at, []).append(event["timestamp"])
    assert all(times == sorted(times) for times in releases.values())


def test_nothing_due_before_one_second() -> None:
    sim = TrafficSimulator(seed=2, feedback_share=1.0)
    sim.inferences(now=START, n=50)
    assert sim.pending_feedback == 50
    assert sim.due_feedback(START + 0.999) == []
    assert len(sim.due_feedback(START + sim.max_feedback_delay)) == 50
    assert sim.pending_feedback == 0


def test_feedback_share() -> None:
    sim = TrafficSimulator(seed=9, feedback_share=0.0)
    sim.inferences(now=START, n=100)
    assert sim.pending_feedback == 0


def features_of(sim: TrafficSimulator, version: str, n: int = 2000) -> list[dict]:
    events = sim.inferences(now=START, n=n)
    return [e["features"] for e in events if e["model_version"] == version]


def test_drift_changes_only_the_drift_version() -> None:
    calm = TrafficSimulator(seed=21)
    drifted = TrafficSimulator(seed=21)
    drifted.drifted = True
    before, after = features_of(calm, "v2"), features_of(drifted, "v2")
    chars_before = np.median([f["prompt_chars"] for f in before])
    chars_after = np.median([f["prompt_chars"] for f in after])
    assert chars_after > 1.8 * chars_before  # lognormal median moves by e^0.8 ~ 2.2
    langs_before = Counter(f["language"] for f in before)
    langs_after = Counter(f["language"] for f in after)
    assert langs_before["ja"] + langs_before["pt"] == 0
    assert (langs_after["ja"] + langs_after["pt"]) / len(after) > 0.4
    assert Counter(f["intent"] for f in before)["cancellation"] == 0
    assert Counter(f["intent"] for f in after)["cancellation"] / len(after) > 0.3

    v1_after = features_of(drifted, "v1")
    assert not any(f["language"] in ("ja", "pt") or f["intent"] == "cancellation" for f in v1_after)
    assert np.median([f["prompt_chars"] for f in v1_after]) < 1.3 * chars_before


def test_drift_worsens_outcomes() -> None:
    def outcomes(drifted: bool) -> tuple[float, float]:
        sim = TrafficSimulator(seed=8, versions=("v2",), feedback_share=1.0)
        sim.drifted = drifted
        sim.inferences(now=START, n=1500)
        fb = sim.due_feedback(START + 100)
        ratings = [f["rating"] for f in fb if "rating" in f]
        return float(np.mean(ratings)), float(np.mean([f["human_takeover"] for f in fb]))

    rating_ok, takeover_ok = outcomes(False)
    rating_bad, takeover_bad = outcomes(True)
    assert rating_bad < rating_ok - 0.5
    assert takeover_bad > takeover_ok + 0.1
