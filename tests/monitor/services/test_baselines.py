"""BaselineCache on embedded ClickHouse: loaded on first use, reloaded when baselines change."""

from __future__ import annotations

import uuid

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.drift_store import DriftStore
from monitor.baseline import build_baseline
from monitor.services.baselines import BaselineCache


def baseline(version: str, scale: float):
    return build_baseline("m", version, [{"features": {"x": i * scale}} for i in range(50)], now=0.0)


def test_loaded_on_first_use_and_reloaded_when_a_baseline_is_built_replaced_or_deleted(chdb_dir):
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    drift = DriftStore(store)
    drift.save_baseline(baseline("v1", 1.0), "b1")
    cache = BaselineCache(drift)
    assert {k: v[0] for k, v in cache.current().items()} == {("m", "v1"): "b1"}
    first = cache.active
    assert cache.current() is first  # nothing changed: not reloaded

    drift.save_baseline(baseline("v2", 2.0), "b2")  # a new version's baseline, built while running
    assert {k: v[0] for k, v in cache.current().items()} == {("m", "v1"): "b1", ("m", "v2"): "b2"}
    drift.save_baseline(build_baseline("m", "v1", [{"features": {"x": float(i)}} for i in range(60)], now=5.0),
                        "b1-new")  # replaced
    assert cache.current()[("m", "v1")][0] == "b1-new"
    drift.delete_baseline("m", "v2")
    assert set(cache.current()) == {("m", "v1")}
