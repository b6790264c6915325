"""Baselines of the held versions on embedded ClickHouse: read when a version is first seen, re-read
when the baselines change (built, replaced or deleted while the worker runs)."""

from __future__ import annotations

import uuid

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.drift_store import DriftStore
from monitor.drift.baseline import build_baseline
from monitor.services.versions import VersionStates


def baseline(version: str, scale: float):
    return build_baseline(
        "m", version, [{"features": {"x": i * scale}} for i in range(50)], now=0.0
    )


def test_loaded_on_first_use_and_reloaded_when_a_baseline_is_built_replaced_or_deleted(chdb_dir):
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    drift = DriftStore(store)
    drift.save_baseline(baseline("v1", 1.0), "b1")
    versions = VersionStates(drift)

    def ids() -> dict:
        return {k: v[0] for k, v in versions.baselines().items()}

    def refresh() -> dict:
        changed = versions.refresh(versions.held_ids())
        versions.apply(changed, only_held=True)
        return changed

    assert refresh() == {}  # nothing held yet
    versions.apply(versions.fetch([("m", "v1"), ("m", "v2")]))  # both versions seen in a batch
    assert ids() == {("m", "v1"): "b1"}
    assert refresh() == {}  # nothing changed: not re-read

    drift.save_baseline(baseline("v2", 2.0), "b2")  # a new version's baseline, built while running
    assert set(refresh()) == {("m", "v2")} and ids() == {("m", "v1"): "b1", ("m", "v2"): "b2"}
    drift.save_baseline(
        build_baseline("m", "v1", [{"features": {"x": float(i)}} for i in range(60)], now=5.0),
        "b1-new",
    )  # replaced
    refresh()
    assert ids()[("m", "v1")] == "b1-new"
    drift.delete_baseline("m", "v2")
    refresh()
    assert set(ids()) == {("m", "v1")}
    versions.forget()  # after a store error everything held is compared again
    assert refresh() == {}  # ... and nothing differs


def test_a_baseline_of_another_embedder_is_logged_once(chdb_dir, caplog):
    """Its prompts get no embedding rows: the worker says so once per baseline, with the fix."""
    import logging

    import numpy as np

    from monitor.drift.embedding_baseline import attach_embeddings, sample_embedding_fields

    class Named:
        def __init__(self, name: str) -> None:
            self.name = name

        def embed(self, texts):
            return np.array([[float(len(t)), float(t.count("e")), 1.0, 0.5] for t in texts])

    texts = [f"prompt about {w} {i}" for i, w in enumerate(["invoices", "login", "refunds"] * 10)]
    records = [{"features": {"x": float(i)}, "input_text": t} for i, t in enumerate(texts)]
    base = build_baseline("m", "v1", records, now=0.0)
    fields = sample_embedding_fields(Named("old-model"), texts, reduced_dim=2)
    base = attach_embeddings(base, [{"embedding": f} for f in fields], topics=2)
    assert base.embedding is not None and base.embedding.embedder == "old-model"
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    drift = DriftStore(store)
    drift.save_baseline(base, "b-old")

    same = VersionStates(drift, embedder=Named("old-model"), embedding_rate=1.0)
    with caplog.at_level(logging.WARNING, logger="monitor.drift"):
        same.apply(same.fetch([("m", "v1")]))
    assert not caplog.records
    other = VersionStates(drift, embedder=Named("new-model"), embedding_rate=1.0)
    with caplog.at_level(logging.WARNING, logger="monitor.drift"):
        other.apply(other.fetch([("m", "v1")]))
        other.apply(other.fetch([("m", "v1")]))  # read again: not logged again
    [record] = caplog.records
    message = record.getMessage()
    assert (
        "b-old" in message and "'old-model'" in message and "MONITOR_EMBEDDER=new-model" in message
    )
