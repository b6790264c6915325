"""ExperimentResults on embedded ClickHouse: each report names the models and versions of its requests,
an experiment_results table of an older release is migrated, and the query catalogue filters by them."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime

import numpy as np

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.experiment_store import RESULT_COLUMNS, result_rows
from monitor.adapters.schema import DDL
from monitor.contract.events import InferenceEvent
from monitor.experiments.config import ExperimentSpec
from monitor.experiments.fold import fold_experiment_inferences
from monitor.queries import alerts_query, experiments_query
from monitor.services.experiments import ExperimentResults

W = 60
# experiment "versions": its arms are two versions of model m; "prompt": both arms on model n v7
ARMS = {("versions", "control"): ("m", "v1"), ("versions", "treatment"): ("m", "v2")}
ARMS |= {("prompt", "control"): ("n", "v7"), ("prompt", "treatment"): ("n", "v7")}


def new_store(chdb_dir) -> ClickHouseStore:
    return ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()


def write_assignments(store: ClickHouseStore, n: int = 200) -> None:
    rng = np.random.default_rng(3)
    events = [
        InferenceEvent(
            f"{name}-{variant}-{i}",
            120.0 + i,
            model,
            version,
            latency_ms=float(rng.normal(300, 20)),
            experiment=name,
            variant=variant,
        )
        for (name, variant), (model, version) in ARMS.items()
        for i in range(n)
    ]
    store.write_batch({("inf", 0): (len(events), 500.0, fold_experiment_inferences(events, W))})


def summaries(store: ClickHouseStore, where: str = "") -> dict[str, tuple]:
    rows = store.query(
        f"SELECT experiment, models, model_versions FROM {store.db}.experiment_results FINAL "
        f"WHERE metric = '' {where} ORDER BY experiment"
    ).rows
    return {r[0]: (list(r[1]), list(r[2])) for r in rows}


def test_an_old_experiment_results_table_is_migrated_and_rewritten_with_models_and_versions(
    chdb_dir,
):
    store = new_store(chdb_dir)
    for statement in DDL:  # the tables as the release before these columns created them
        store.command(statement.format(db=store.db))
    old_columns = [c for c in RESULT_COLUMNS if c not in ("models", "model_versions")]
    old = dict.fromkeys(old_columns, 0.0) | {"experiment": "gone", "metric": "", "segment": ""}
    old |= {"control": "a", "treatment": "b", "decision": "continue", "reason": ""}
    old |= {"remaining_sample": None, "updated_at": datetime.fromtimestamp(100, UTC)}
    old |= {c: 0 for c in ("significant", "guardrail", "harmed", "primary", "srm")}
    store.insert("experiment_results", [[old[c] for c in old_columns]], old_columns)
    store.migrate()
    store.migrate()  # idempotent
    assert summaries(store) == {"gone": ([], [])}  # an older release's row reads empty lists

    write_assignments(store)
    reports, _ = ExperimentResults(store).run(now=1000.0)
    assert {s.experiment: (s.models, s.model_versions) for _, s in reports} == {
        "prompt": (("n",), ("v7",)),
        "versions": (("m",), ("v1", "v2")),
    }
    assert summaries(store) == {
        "gone": ([], []),
        "prompt": (["n"], ["v7"]),
        "versions": (["m"], ["v1", "v2"]),
    }
    # every metric row carries its experiment's models and versions too
    metric_rows = store.query(
        f"SELECT DISTINCT experiment, model_versions FROM {store.db}.experiment_results FINAL "
        "WHERE metric = 'latency_ms'"
    ).rows
    assert sorted((e, list(v)) for e, v in metric_rows) == [
        ("prompt", ["v7"]),
        ("versions", ["v1", "v2"]),
    ]


def test_the_query_catalogue_keeps_the_experiments_of_a_model_and_version(chdb_dir):
    store = new_store(chdb_dir)
    store.migrate()
    write_assignments(store)
    ExperimentResults(store).run(now=1000.0)

    def experiments(**scope: str) -> set[str]:
        sql, params = experiments_query(store.db, **scope)
        return {r["experiment"] for r in store.query(sql, params).dicts()}

    assert experiments() == {"prompt", "versions"}
    assert experiments(model="m") == {"versions"}
    assert experiments(version="v2") == {"versions"}  # one arm's version is enough
    assert experiments(model="n", version="v7") == {"prompt"}
    assert experiments(model="m", version="v7") == set()
    assert experiments(model="no-such-model") == set()


def test_a_summary_row_leaves_the_metric_columns_empty_by_type():
    from monitor.experiments.report import ExperimentScope, ExperimentSummary, with_scope

    summary = with_scope(
        ExperimentSummary("e", "a", "b", 5.0, 6.0, 0.5, 0.6, False, "continue", "why", None, 1.0),
        ExperimentScope(("m",), ("v1", "v2")),
    )
    [row] = result_rows([([], summary)], now=0.0)
    cells = dict(zip(RESULT_COLUMNS, row, strict=True))
    assert (cells["metric"], cells["segment"], cells["significant"]) == ("", "", 0)
    assert math.isnan(cells["diff"]) and cells["n_treatment"] == 6.0
    assert (cells["models"], cells["model_versions"]) == (["m"], ["v1", "v2"])


def write_unbalanced(store: ClickHouseStore, control: int, treatment: int) -> None:
    events = [
        InferenceEvent(f"{variant}-{i}", 120.0 + i, "m", "v1", experiment="split", variant=variant)
        for variant, n in (("control", control), ("treatment", treatment))
        for i in range(n)
    ]
    store.write_batch({("inf", 0): (len(events), 800.0, fold_experiment_inferences(events, W))})


def test_an_experiment_alert_closed_after_a_restart_is_one_alert_in_the_store(chdb_dir):
    """The decision's alert is kept in the saved state, so the notification that closes it, by a
    process started later, shares its id (fingerprint and start): `monitor alerts` and
    `monitor alerts show` see one alert, resolved, not a firing one left for ever beside it."""
    store = new_store(chdb_dir)
    store.migrate()
    write_unbalanced(store, 2000, 4000)
    spec = ExperimentSpec("split", "m", "control", "treatment")
    _, [fired] = ExperimentResults(store, [spec]).run(now=1000.0)
    assert (fired.rule, fired.status) == ("experiment_invalid", "firing")
    planned = ExperimentSpec("split", "m", "control", "treatment", split=(1 / 3, 2 / 3))
    _, [closing] = ExperimentResults(store, [planned]).run(now=2000.0)  # a new process
    assert closing == fired.resolved(2000.0)
    sql, params = alerts_query(store.db)
    rows = store.query(sql, params).rows
    assert [(r[2], r[3]) for r in rows] == [("firing", None), ("resolved", "cleared")]
    assert len({r[0] for r in rows}) == 1  # one alert id
    assert ExperimentResults(store, [planned]).run(now=3000.0)[1] == []  # nothing more to say
