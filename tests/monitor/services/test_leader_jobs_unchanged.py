"""The leader's experiment and shadow jobs read their partials again only when some were inserted
since their last run. Before, every refresh (2 s) re-aggregated every experiment and shadow
partial ever written, four queries over the whole partials table, and rewrote every result row
(an idle worker spent a tenth of a core on it)."""

from __future__ import annotations

import time
import uuid

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.inserted_since import CLOCK_MARGIN, clock_skew, skew_warning
from monitor.contract.events import InferenceEvent
from monitor.experiments.fold import fold_experiment_inferences
from monitor.services.experiments import ExperimentResults
from monitor.services.shadow import ShadowResults
from monitor.shadow.fold import fold_pairs
from monitor.shadow.pairs import Side

W = 60


def settled() -> float:
    """A run's time once what was written before it is older than the clock margin (a run just
    after a write reads it again, by design); a write 1 s later is newer than its mark."""
    return time.time() + CLOCK_MARGIN + 0.5


def write_later() -> None:
    time.sleep(1.0)


def new_store(chdb_dir) -> ClickHouseStore:
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    return store


def rows(store: ClickHouseStore, table: str) -> int:
    return int(store.query(f"SELECT count() FROM {store.db}.{table}").rows[0][0])


def assign(store: ClickHouseStore, offset: int, n: int) -> None:
    events = [
        InferenceEvent(f"{offset}-{i}", 61.0, "m", "v1", experiment="x", variant=f"{i % 2}")
        for i in range(n)
    ]
    store.write_batch({("inf", offset): (n, 500.0, fold_experiment_inferences(events, W))})


def test_experiment_reports_are_read_again_only_after_new_experiment_partials(chdb_dir):
    store = new_store(chdb_dir)
    assign(store, 0, 100)
    leader = ExperimentResults(store)
    first, _ = leader.run(settled())
    written = rows(store, "experiment_results")
    assert written > 0 and [s.n_control + s.n_treatment for _, s in first] == [100]
    again, alerts = leader.run(settled())
    assert (again, alerts, rows(store, "experiment_results")) == (first, [], written)
    write_later()
    assign(store, 1, 50)
    later, _ = leader.run(settled())
    assert [s.n_control + s.n_treatment for _, s in later] == [150]
    assert rows(store, "experiment_results") == 2 * written
    leader.forget()  # a new leadership term reports afresh
    leader.run(settled())
    assert rows(store, "experiment_results") == 3 * written


def side(version: str, answer: str) -> Side:
    return Side(version, answer, None, None, 10, 100.0, 5, False)


def test_shadow_reports_are_read_again_only_after_new_shadow_partials(chdb_dir):
    store = new_store(chdb_dir)
    pairs = [("m", 61.0, side("v1", "a"), side("v2", "a" if i % 4 else "b")) for i in range(40)]
    store.write_batch({("inf", 0): (40, 500.0, fold_pairs(pairs, W))})
    leader = ShadowResults(store, {})
    [first] = leader.run(settled())
    written = rows(store, "shadow_results")
    assert written > 0 and first.pairs == 40
    assert leader.run(settled()) == [first] and rows(store, "shadow_results") == written
    write_later()
    store.write_batch({("inf", 1): (40, 500.0, fold_pairs(pairs, W))})
    [later] = leader.run(settled())
    assert later.pairs == 80 and rows(store, "shadow_results") == 2 * written


def test_an_embedded_store_keeps_this_process_clock_and_a_store_behind_is_named(chdb_dir):
    """The jobs' marks are the worker's clock less 5 s: a store clock further behind would hide the
    newest partials from them, so a worker measures it at start and says so."""
    skew = clock_skew(new_store(chdb_dir))
    assert abs(skew) < 1.0 and skew_warning(skew) is None
    assert "12.5 s behind" in (skew_warning(-12.5) or "")
