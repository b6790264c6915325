"""Bounded per-version state on embedded ClickHouse: detector sets and baselines leave memory at their
caps and come back from the store with nothing lost; a new position epoch feeds detectors again."""

from __future__ import annotations

import uuid

import orjson

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.drift_store import DriftStore
from monitor.adapters.join_store import MemoryJoinStore
from monitor.adapters.outcome_store import OutcomeStore
from monitor.drift.baseline import build_baseline
from monitor.folding.pipeline import BatchConfig, Position, RawMessage, process_batch
from monitor.services.outcomes import OutcomeStage
from monitor.services.versions import VersionStates

NOW = 1_795_000_000.0
CFG = BatchConfig(window_seconds=60, allowed_lateness=600, max_future_skew=300, now=NOW)
START = Position(-1, 0.0)


def new_store(chdb_dir) -> ClickHouseStore:
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    return store


def batch(versions: list[str], first_offset: int, position: Position = START):
    raw = [
        RawMessage(
            "inf",
            0,
            first_offset + i,
            orjson.dumps(
                {
                    "request_id": f"{v}-{first_offset + i}",
                    "timestamp": NOW - 100 + i,
                    "model": "m",
                    "model_version": v,
                    "latency_ms": 100.0 + i,
                    "features": {"x": float(i % 5)},
                }
            ),
            "inference",
        )
        for i, v in enumerate(versions)
    ]
    return process_batch(raw, {("inf", 0): position}, CFG)


def test_detector_sets_past_the_cap_are_evicted_and_restored_from_the_store(chdb_dir):
    store = new_store(chdb_dir)
    outcomes = OutcomeStore(store)
    stage = OutcomeStage(MemoryJoinStore(), outcomes, window_seconds=60, max_detectors=2)
    first = stage.process(batch(["v1", "v2", "v3"], 0), NOW)
    assert (
        first.evicted == 1
        and len(stage.detectors) == 2
        and ("inf", 0, "m", "v1") not in stage.detectors
    )
    fed_before = outcomes.load_states("inf", 0, [("m", "v1")])[("m", "v1")]
    assert fed_before[:2] == (0, 2)  # epoch 0, fed up to offset 2
    stage.process(
        batch(["v1"], 3), NOW
    )  # v1 comes back: its saved state is continued, not restarted
    assert stage.detectors.peek(("inf", 0, "m", "v1")).monitor.position("latency_ms") == 2


def test_a_state_that_did_not_change_is_not_saved_again(chdb_dir):
    store = new_store(chdb_dir)
    stage = OutcomeStage(MemoryJoinStore(), OutcomeStore(store), window_seconds=60)
    out = batch(["v1"], 0)
    stage.process(out, NOW)
    stage.forget()  # as after a crash: the same batch again feeds nothing new
    stage.process(batch(["v1"], 0, Position(-1, 0.0)), NOW)
    rows = store.query(f"SELECT count() FROM {store.db}.detector_state").rows[0][0]
    assert rows == 1


def test_a_new_position_epoch_feeds_the_detectors_from_offset_0_again(chdb_dir):
    store = new_store(chdb_dir)
    stage = OutcomeStage(MemoryJoinStore(), OutcomeStore(store), window_seconds=60)
    stage.process(batch(["v1"] * 5, 0), NOW)  # offsets 0-4 of the old log
    stage.forget()
    recreated = batch(
        ["v1"] * 3, 0, Position(-1, 0.0, epoch=1, identity="c/t2")
    )  # offsets 0-2 of a new log
    assert recreated.sources[("inf", 0)].epoch == 1
    assert recreated.sources[("inf", 0)].event_ids[0] == "inf#1:0:0:0"
    stage.process(recreated, NOW)
    assert (
        stage.detectors.peek(("inf", 0, "m", "v1")).monitor.position("latency_ms") == 8
    )  # none skipped
    assert OutcomeStore(store).load_states("inf", 0, [("m", "v1")])[("m", "v1")][:2] == (1, 2)


def test_an_evicted_version_gets_its_baseline_back_in_the_same_batch(chdb_dir):
    drift = DriftStore(new_store(chdb_dir))
    records = [{"features": {"x": float(i % 5)}} for i in range(50)]
    drift.save_baseline(build_baseline("m", "v1", records, now=1.0), "b-v1")
    versions = VersionStates(drift, max_versions=1, baseline_samples=3)
    for version in ("v1", "v2"):
        out = batch([version] * 4, 0)
        new = versions.untracked(out)
        loaded = versions.fetch(new)
        versions.apply(loaded)
        versions.fold_loaded(out, loaded, 60)
        hist = [p for p in out.sources[("inf", 0)].partials if p.name == "hist:x"]
        assert (sum(p.count for p in hist) == 4) == (version == "v1")  # only v1 has a baseline
        assert [e.model_version for e in versions.take_samples(out.inferences)] == (
            [] if version == "v1" else ["v2"] * 3
        )
        assert versions.trim() == (version == "v2")  # v1 leaves when v2 arrives
    out = batch(["v1"] * 2, 10)
    loaded = versions.fetch(versions.untracked(out))
    versions.apply(loaded)
    versions.fold_loaded(out, loaded, 60)
    assert sum(p.count for p in out.sources[("inf", 0)].partials if p.name == "hist:x") == 2
    assert versions.baselines().keys() == {("m", "v1")}
    versions.trim()
    assert len(versions) == 1 and versions.evicted == 2
