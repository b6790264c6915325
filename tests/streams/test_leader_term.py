"""A worker that leads again after a rebalance reads the leader's saved state again: another
worker may have led meanwhile and fired an experiment's alert. Before, the returning leader kept
the state it had read at its first refresh and fired that alert a second time (a second page)."""

from __future__ import annotations

import asyncio
import uuid

import faust

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.contract.events import InferenceEvent
from monitor.experiments.fold import fold_experiment_inferences, fold_experiment_outcomes
from monitor.outcomes.fold import JoinedOutcome
from monitor.services.experiments import ExperimentResults
from monitor.settings import Settings
from streams.timers import LeaderJobs
from streams.wiring import Wiring

W = 60


def write_decided_experiment(store: ClickHouseStore) -> None:
    """400 requests in arms a and b, b's tasks completed far more often: ``ship``."""
    events, outcomes = [], []
    for i in range(400):
        arm = "a" if i % 2 else "b"
        events.append(InferenceEvent(f"r{i}", 61.0, "m", "v1", experiment="x", variant=arm))
        done = (i // 2) % 10 < (3 if arm == "a" else 9)
        outcomes.append(
            JoinedOutcome(
                f"r{i}", "m", "v1", 61.0, 62.0, experiment="x", variant=arm, task_completed=done
            )
        )
    partials = fold_experiment_inferences(events, W) + fold_experiment_outcomes(outcomes, W)
    store.write_batch({("inf", 0): (len(events), 500.0, partials)})


def firing_rows(store: ClickHouseStore) -> list[str]:
    rows = store.query(
        f"SELECT rule FROM {store.db}.alerts WHERE status = 'firing' AND startsWith(rule, 'experiment_')"
    ).rows
    return [r[0] for r in rows]


def test_a_returning_leader_reads_the_alerts_another_leader_fired_meanwhile(chdb_dir):
    settings = Settings(
        clickhouse_url=f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}", redis_url=None
    )
    wiring = Wiring.build(settings)
    try:
        wiring.open_store()
        app = faust.App(f"t-{uuid.uuid4().hex[:8]}", broker="kafka://127.0.0.1:1")
        leads = {"now": True}
        app.is_leader = lambda: leads["now"]  # type: ignore[method-assign]  # who leads is the test's
        jobs = LeaderJobs(app, wiring)
        asyncio.run(jobs.window_jobs())  # this worker leads first: nothing decided
        assert jobs.experiments.fired == {}

        leads["now"] = False  # a rebalance: another worker leads, and the experiment is decided
        asyncio.run(jobs.note_rebalance(app, assigned=set()))
        asyncio.run(jobs.window_jobs())
        write_decided_experiment(wiring.store)
        _, [fired] = ExperimentResults(wiring.store).run(now=2000.0)  # the other leader's page
        assert firing_rows(wiring.store) == [fired.rule]

        leads["now"] = True  # and this worker leads again
        asyncio.run(jobs.note_rebalance(app, assigned=set()))
        asyncio.run(jobs.window_jobs())
        assert firing_rows(wiring.store) == [fired.rule]  # one page, not two
        assert [a.fingerprint for a in jobs.experiments.open_alerts()] == [fired.fingerprint]
    finally:
        wiring.close()
