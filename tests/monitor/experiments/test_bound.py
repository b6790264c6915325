"""Experiments, variants and KPI names a producer makes up are bounded per batch and in reports: a
producer writing a new experiment name per request cannot grow the rows, the leader's work, the
Prometheus series or the pages in proportion to its traffic (before: every name got partials,
a report, series and alerts). Declared experiments are always kept."""

from __future__ import annotations

import logging
import uuid
from collections import Counter

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.experiment_store import read_experiment_sums, reported_experiments
from monitor.adapters.memory_join_store import MemoryJoinStore
from monitor.adapters.prometheus_metrics import MonitorMetrics
from monitor.contract.events import InferenceEvent
from monitor.experiments.bound import MAX_KPIS, MAX_VARIANTS, UNDECLARED, ExperimentBound
from monitor.experiments.config import ExperimentSpec
from monitor.experiments.fold import (
    ASSIGNED,
    fold_experiment_inferences,
    fold_experiment_outcomes,
    parse_bucket,
)
from monitor.folding.pipeline import BatchConfig, RawMessage, process_batch
from monitor.outcomes.fold import JoinedOutcome
from monitor.services.experiments import ExperimentResults
from monitor.services.outcomes import OutcomeStage
from streams.observe import record_outcome_metrics

W = 60
arms_strategy = st.lists(
    st.tuples(st.sampled_from("abcdefgh"), st.sampled_from([str(i) for i in range(25)])),
    max_size=400,
)


@settings(max_examples=200, deadline=None)
@given(arms=arms_strategy, cap=st.integers(1, 6), declared=st.sets(st.sampled_from("abcz")))
def test_kept_arms_are_the_most_assigned_within_the_caps_and_every_declared_arm(
    arms, cap, declared
):
    named = {e: ("0", "1") for e in declared}
    kept = ExperimentBound(named, cap).kept_arms(arms)
    counts = Counter(arms)
    if kept is None:  # nothing over a cap: every arm kept
        undeclared = {e for e, _ in counts if e not in named}
        assert len(undeclared) <= cap
        assert all(sum(1 for e, _ in counts if e == x) <= MAX_VARIANTS for x, _ in counts)
        return
    assert kept <= set(counts)
    experiments = {e for e, _ in kept}
    assert len(experiments - set(named)) <= cap
    per_experiment = Counter(e for e, _ in kept)
    assert all(n <= MAX_VARIANTS for n in per_experiment.values())
    # every declared experiment's arms present in the batch are kept, its declared ones first
    for e, declared_variants in named.items():
        seen = [v for x, v in counts if x == e]
        assert len([v for x, v in kept if x == e]) == min(len(seen), MAX_VARIANTS)
        assert {v for v in seen if v in declared_variants} <= {v for x, v in kept if x == e}
    # an undeclared experiment left out has no more assignments than any undeclared one kept
    total = Counter(e for e, _ in arms)
    kept_totals = [total[e] for e in experiments if e not in named]
    for e in set(total) - experiments - set(named):
        assert total[e] <= min(kept_totals)


def test_a_producer_naming_a_new_experiment_per_request_gets_the_cap_of_rows():
    events = [
        InferenceEvent(
            f"r{i}", 61.0, "m", "v1", latency_ms=100.0, experiment=f"junk-{i}", variant="a"
        )
        for i in range(500)
    ]
    events += [
        InferenceEvent(f"s{i}", 61.0, "m", "v1", latency_ms=100.0, experiment="ab", variant=v)
        for i, v in enumerate(["control"] * 3 + ["treatment"])
    ]
    bound = ExperimentBound({"ab": ("control", "treatment")}, max_experiments=10)
    partials = fold_experiment_inferences(events, W, bound=bound)
    assigned = {parse_bucket(p.bucket)[:2]: p.count for p in partials if p.name == ASSIGNED}
    assert assigned[("ab", "control")] == 3 and assigned[("ab", "treatment")] == 1
    assert len({e for e, _ in assigned}) == 11  # the declared one and ten others
    undeclared = fold_experiment_inferences(events, W)  # nothing declared, the default cap of 50
    assert len(kept := {parse_bucket(p.bucket)[0] for p in undeclared}) == 50 and "ab" in kept


def test_variants_past_their_cap_are_left_out_never_merged_into_another_arm():
    events = [
        InferenceEvent(f"r{i}", 61.0, "m", "v1", experiment="x", variant=f"v{i % 30}")
        for i in range(300)
    ]
    events += [
        InferenceEvent(f"t{i}", 61.0, "m", "v1", experiment="x", variant="v0") for i in range(5)
    ]
    partials = fold_experiment_inferences(events, W)
    assigned = {parse_bucket(p.bucket)[1]: p.count for p in partials if p.name == ASSIGNED}
    assert len(assigned) == MAX_VARIANTS and assigned["v0"] == 15  # its own 10 and 5 more
    assert sum(assigned.values()) == 15 + 10 * (MAX_VARIANTS - 1)


def outcome(i: int, kpi: dict[str, float]) -> JoinedOutcome:
    return JoinedOutcome(
        request_id=f"r{i}",
        model="m",
        model_version="v1",
        inference_time=61.0,
        feedback_time=62.0,
        experiment="x",
        variant="a" if i % 2 else "b",
        kpi=kpi,
    )


def test_kpi_names_past_their_cap_are_left_out_of_the_experiment_moments():
    outcomes = [outcome(i, {f"k{i}": 1.0, "revenue": 2.0}) for i in range(200)]
    names = {
        p.name.split(":")[1]
        for p in fold_experiment_outcomes(outcomes, W)
        if p.name.startswith("exp:kpi.")
    }
    assert len(names) == MAX_KPIS and "kpi.revenue" in names
    assert UNDECLARED.kept_kpis([{"a": 1.0}] * 3) is None


def test_a_kpi_a_declared_experiment_reports_is_kept_whatever_the_flood():
    """A declared experiment's primary KPI, rarer in a batch than 50 made-up names, keeps its moments."""
    flood = [  # 180 made-up names, three times each
        outcome(i, {f"k{i % 60}": 1.0, f"j{i % 60}": 1.0, f"h{i % 60}": 1.0}) for i in range(180)
    ]
    rare = [outcome(1000 + i, {"revenue": 5.0}) for i in range(2)]
    spec = ExperimentSpec("x", "m", "a", "b", primary_metric="kpi.revenue")

    def kpis(bound: ExperimentBound) -> set[str]:
        partials = fold_experiment_outcomes(flood + rare, W, bound=bound)
        return {p.name.split(":")[1] for p in partials if p.name.startswith("exp:kpi.")}

    assert "kpi.revenue" not in kpis(UNDECLARED)
    assert "kpi.revenue" in kpis(ExperimentBound.of([spec], 50))
    assert len(kpis(ExperimentBound.of([spec], 50))) == MAX_KPIS + 1


def test_the_leader_reports_the_declared_and_the_most_assigned_others_and_says_what_it_left_out(
    chdb_dir, caplog
):
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    events = [  # experiment e<k> has 10 + k assignments in two arms; "planned" has 4
        InferenceEvent(f"{k}-{i}", 61.0, "m", "v1", experiment=f"e{k}", variant=f"{i % 2}")
        for k in range(8)
        for i in range(10 + k)
    ]
    events += [
        InferenceEvent(f"p{i}", 61.0, "m", "v1", experiment="planned", variant=v)
        for i, v in enumerate(["control", "treatment"] * 2)
    ]
    store.write_batch({("inf", 0): (len(events), 500.0, fold_experiment_inferences(events, W))})
    spec = ExperimentSpec("planned", "m", "control", "treatment")
    assert reported_experiments(store, store.db, ["planned"], 3) == (
        ["planned", "e7", "e6", "e5"],
        5,
    )
    only = read_experiment_sums(store, store.db, only=["e6"])
    assert only and {b.split("\t")[0] for _, b, _, _ in only} == {"e6"}
    with caplog.at_level(logging.WARNING, logger="monitor.services.experiments"):
        reports, _ = ExperimentResults(store, [spec], max_experiments=3).run(now=1000.0)
        ExperimentResults(store, [spec], max_experiments=3).run(now=1001.0)
    assert [s.experiment for _, s in reports] == ["planned", "e5", "e6", "e7"]
    reported = store.query(
        f"SELECT DISTINCT experiment FROM {store.db}.experiment_results ORDER BY 1"
    ).rows
    assert [r[0] for r in reported] == ["e5", "e6", "e7", "planned"]
    [warning] = [r.getMessage() for r in caplog.records if "not reported" in r.getMessage()][:1]
    assert warning.startswith("5 experiment(s) seen in events are not reported")
    assert "MONITOR_MAX_EXPERIMENTS=3" in warning


def write_experiment(store: ClickHouseStore, offset: int, name: str, completed: dict[str, float]):
    """400 requests of experiment ``name`` in arms a and b, each arm's tasks completed at its rate."""
    events, outcomes = [], []
    for i in range(400):
        arm = "a" if i % 2 else "b"
        events.append(InferenceEvent(f"{name}-{i}", 61.0, "m", "v1", experiment=name, variant=arm))
        outcomes.append(
            JoinedOutcome(
                f"{name}-{i}",
                "m",
                "v1",
                61.0,
                62.0,
                experiment=name,
                variant=arm,
                task_completed=(i // 2) % 100 < completed[arm] * 100,
            )
        )
    partials = fold_experiment_inferences(events, W) + fold_experiment_outcomes(outcomes, W)
    store.write_batch({("inf", offset): (len(events), 500.0, partials)})


def test_an_experiment_whose_alert_fires_stays_reported_until_its_decision_changes(chdb_dir):
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    write_experiment(store, 0, "decided", {"a": 0.3, "b": 0.9})
    leader = ExperimentResults(store, [], max_experiments=1)
    reports, [alert] = leader.run(now=1000.0)
    assert [s.decision for _, s in reports] != ["continue"] and alert.status == "firing"
    for k in range(3):  # three experiments with more assignments and no decision
        write_experiment(store, k + 1, f"busy{k}", {"a": 0.5, "b": 0.5})
        write_experiment(store, k + 10, f"busy{k}", {"a": 0.5, "b": 0.5})
    reports, alerts = leader.run(now=1001.0)
    # before: the most assigned took the one place, and the decided experiment's alert stayed open
    assert [s.experiment for _, s in reports] == ["decided"] and alerts == []
    assert [a.fingerprint for a in leader.open_alerts()] == [alert.fingerprint]
    for offset in range(20, 40):  # the arms even out: no decision
        write_experiment(store, offset, "decided", {"a": 0.6, "b": 0.6})
    reports, [closed] = leader.run(now=1002.0)
    assert (closed.fingerprint, closed.status) == (alert.fingerprint, "resolved")
    assert leader.open_alerts() == []


def write_guarded(store: ClickHouseStore, offset: int, latency: dict, takeover: dict) -> None:
    """400 requests of experiment "guarded" in arms a (control) and b: each arm's latency in ms,
    and its share of human takeovers."""
    events, outcomes = [], []
    for i in range(400):
        arm, k = ("a" if i % 2 else "b"), (i // 2) % 100
        rid = f"g{offset}-{i}"
        events.append(
            InferenceEvent(
                rid,
                61.0,
                "m",
                "v1",
                latency_ms=latency[arm] + k % 7,
                experiment="guarded",
                variant=arm,
            )
        )
        outcomes.append(
            JoinedOutcome(
                rid,
                "m",
                "v1",
                61.0,
                62.0,
                experiment="guarded",
                variant=arm,
                human_takeover=k < takeover[arm] * 100,
            )
        )
    partials = fold_experiment_inferences(events, W) + fold_experiment_outcomes(outcomes, W)
    store.write_batch({("inf", offset): (len(events), 500.0, partials)})


def test_a_firing_decision_with_another_cause_restates_its_open_alert_without_a_notification(
    chdb_dir,
):
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    write_guarded(store, 0, latency={"a": 500, "b": 560}, takeover={"a": 0.1, "b": 0.1})
    _, [fired] = ExperimentResults(store, []).run(now=1000.0)
    assert fired.evidence["reason"].startswith("guardrail latency_ms harmed")
    for offset in range(1, 4):  # b's latency evens out while its takeovers rise
        write_guarded(store, offset, latency={"a": 500, "b": 480}, takeover={"a": 0.1, "b": 0.4})
    reports, sent = ExperimentResults(store, []).run(now=2000.0)  # a new process: the saved state
    [summary] = [s for _, s in reports]
    assert sent == [] and summary.decision == fired.evidence["decision"] == "stop"
    assert summary.reason.startswith("guardrail human_takeover harmed")
    leader = ExperimentResults(store, [])
    leader.run(now=3000.0)
    [open_alert] = leader.open_alerts()
    # before: the fire-time cause stayed, beside a report giving another
    assert open_alert.summary == f"experiment guarded: stop ({summary.reason})"
    assert (open_alert.fingerprint, open_alert.starts_at) == (fired.fingerprint, 1000.0)
    rows = store.query(
        f"SELECT status, summary FROM {store.db}.alerts FINAL WHERE fingerprint = {{f:String}}",
        {"f": fired.fingerprint},
    ).rows
    assert rows == [("firing", open_alert.summary)]  # one incident row, stating the current cause


def test_the_assignments_a_batch_leaves_out_are_counted_for_prometheus():
    sizes = {"big": 30, "mid": 20, "small": 7}  # with a cap of one, mid and small are left out
    events = [
        {
            "request_id": f"{x}{i}",
            "timestamp": 990.0,
            "model": "m",
            "model_version": "v1",
            "experiment": x,
            "variant": "ab"[i % 2],
        }
        for x, n in sizes.items()
        for i in range(n)
    ]
    events.append({"request_id": "plain", "timestamp": 990.0, "model": "m", "model_version": "v1"})
    cfg = BatchConfig(
        window_seconds=60, allowed_lateness=0, max_future_skew=300, now=1000.0, min_event_time=0
    )
    out = process_batch([RawMessage("inf", 0, 0, orjson.dumps(events), "inference")], {}, cfg)
    stage = OutcomeStage(
        MemoryJoinStore(), window_seconds=60, experiment_bound=ExperimentBound(max_experiments=1)
    )
    result = stage.process(out, now=1000.0)
    assert result.assignments_left_out == sizes["mid"] + sizes["small"]
    metrics = MonitorMetrics(CollectorRegistry())
    record_outcome_metrics(metrics, result)
    counted = metrics.registry.get_sample_value("monitor_experiment_assignments_left_out_total")
    assert counted == 27
    # nothing left out under the default cap: the counter does not move
    out = process_batch([RawMessage("inf", 0, 1, orjson.dumps(events), "inference")], {}, cfg)
    record_outcome_metrics(
        metrics, OutcomeStage(MemoryJoinStore(), window_seconds=60).process(out, 1000.0)
    )
    assert metrics.registry.get_sample_value("monitor_experiment_assignments_left_out_total") == 27
