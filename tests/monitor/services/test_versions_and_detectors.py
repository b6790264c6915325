"""Per-version state on embedded ClickHouse: one detector set per version, fed every source's values
once (replays skipped, a new position epoch fed again); detector sets and baselines leave memory at
their caps and come back from the store with nothing lost."""

from __future__ import annotations

import uuid

import numpy as np
import orjson

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.drift_store import DriftStore
from monitor.adapters.join_store import MemoryJoinStore
from monitor.adapters.outcome_store import OutcomeStore
from monitor.detectors.concept import ConceptDriftMonitor, DetectorSpec
from monitor.detectors.values import DetectorValues, StreamValues, offset_end, value_position
from monitor.drift.baseline import build_baseline
from monitor.folding.pipeline import BatchConfig, Position, RawMessage, process_batch
from monitor.services.detectors import DetectorOwner, ValuesMessage
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


def values(version: str, offsets: range, epoch: int = 0, topic: str = "inf", partition: int = 0):
    """Latency values of ``version`` at ``offsets`` of one source log, as an ingest worker sends them."""
    return DetectorValues(
        "m",
        version,
        topic,
        partition,
        epoch,
        offsets[-1],
        {
            "latency_ms": StreamValues(
                tuple(offsets), tuple(100.0 + o for o in offsets), tuple(NOW + o for o in offsets)
            )
        },
    )


def feed(owner: DetectorOwner, *batches: DetectorValues, first_offset: int = 0):
    return owner.process(
        [ValuesMessage(0, first_offset + i, v) for i, v in enumerate(batches)], NOW
    )


def test_the_outcome_stage_sends_each_versions_values_with_their_source_positions():
    stage = OutcomeStage(MemoryJoinStore(), window_seconds=60)
    sent = stage.process(batch(["v1", "v2", "v1"], 7), NOW).values
    assert [(v.model_version, v.source, v.last_position) for v in sent] == [
        ("v1", ("inf", 0, 0), offset_end(9)),
        ("v2", ("inf", 0, 0), offset_end(9)),
    ]
    assert sent[0].streams["latency_ms"].positions == (value_position(7, 0), value_position(9, 0))
    assert sent[0].streams["latency_ms"].values == (100.0, 102.0)


def test_detector_sets_past_the_cap_are_evicted_and_restored_from_the_store(chdb_dir):
    outcomes = OutcomeStore(new_store(chdb_dir))
    owner = DetectorOwner(outcomes, "values", max_detectors=2)
    first = feed(
        owner, values("v1", range(3)), values("v2", range(3, 4)), values("v3", range(4, 5))
    )
    assert first.evicted == 1 and len(owner.sets) == 2 and ("m", "v1") not in owner.sets
    assert ("m", "v1") in outcomes.load_version_states("values", [("m", "v1")])
    feed(owner, values("v1", range(5, 7)))  # v1 comes back: its saved state is continued
    v1 = owner.sets.peek(("m", "v1")).detectors
    assert v1.monitor.position("latency_ms") == 5 and v1.fed == {("inf", 0, 0): 6}


def test_a_replayed_batch_feeds_nothing_and_an_unchanged_state_is_not_saved_again(chdb_dir):
    store = new_store(chdb_dir)
    owner = DetectorOwner(OutcomeStore(store), "values")
    feed(owner, values("v1", range(100)))
    owner.forget()  # as after a crash: the worker sends the same batch again, cut differently
    again = feed(owner, values("v1", range(50)), values("v1", range(50, 100)), first_offset=1)
    assert again.values == 0
    assert owner.sets.peek(("m", "v1")).detectors.monitor.position("latency_ms") == 100
    rows = store.query(f"SELECT count() FROM {store.db}.detector_state").rows[0][0]
    assert rows == 1
    later = feed(owner, values("v1", range(60, 130)), first_offset=3)  # overlaps: only 100-129 fed
    assert later.values == 30


def test_a_new_position_epoch_feeds_the_detectors_from_offset_0_again(chdb_dir):
    owner = DetectorOwner(OutcomeStore(new_store(chdb_dir)), "values")
    feed(owner, values("v1", range(5)))  # offsets 0-4 of the old log
    owner.forget()
    feed(owner, values("v1", range(3), epoch=1), first_offset=1)  # offsets 0-2 of a new log
    v1 = owner.sets.peek(("m", "v1")).detectors
    assert v1.monitor.position("latency_ms") == 8  # none skipped
    assert v1.fed == {("inf", 0, 0): 4, ("inf", 0, 1): 2}


def test_four_partitions_feed_one_set_the_unpartitioned_stream(chdb_dir):
    rng = np.random.default_rng(3)
    errors = np.concatenate([rng.random(4000) < 0.05, rng.random(4000) < 0.4]).astype(float)
    owner = DetectorOwner(
        OutcomeStore(new_store(chdb_dir)), "values", specs=[DetectorSpec("error", "adwin")]
    )
    found = []
    for start in range(0, len(errors), 200):  # 200 values per batch: 50 from each of 4 sources
        sends = []
        for p in range(4):
            idx = range(start + 50 * p, start + 50 * (p + 1))
            sends.append(
                DetectorValues(
                    "m",
                    "v1",
                    "fb",
                    p,
                    0,
                    idx[-1],
                    {
                        "error": StreamValues(
                            tuple(idx), tuple(errors[i] for i in idx), tuple(float(i) for i in idx)
                        )
                    },
                )
            )
        found += feed(owner, *sends, first_offset=start).detections
    # each source's share fed in the order the topic holds them: the unpartitioned stream
    expected = ConceptDriftMonitor("m", "v1", [DetectorSpec("error", "adwin")]).update(
        "error", errors
    )
    assert [f.detection.position for f in found] == [d.position for d in expected]
    assert expected and all(f.event_time == float(f.detection.position) for f in found)


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


def test_a_just_loaded_versions_batch_is_folded_in_chunks_as_in_one_fold(chdb_dir, monkeypatch):
    """``fold_loaded`` folds a worker's first (largest) batch in chunks of FOLD_CHUNK_EVENTS: the
    same partials, one per key, as one fold of the whole batch; late events stay out of both."""
    from monitor.services import versions as versions_module

    drift = DriftStore(new_store(chdb_dir))
    records = [{"features": {"x": float(i % 5)}} for i in range(50)]
    for version in ("v1", "v2"):
        drift.save_baseline(build_baseline("m", version, records, now=1.0), f"b-{version}")
    # 120 events over three windows, those of the first window late behind the watermark
    late_start = Position(-1, NOW + 10 + CFG.allowed_lateness)

    def folded(chunk: int) -> dict:
        monkeypatch.setattr(versions_module, "FOLD_CHUNK_EVENTS", chunk)
        versions = VersionStates(drift)
        out = batch(["v1", "v2", "v1"] * 40, 0, late_start)
        loaded = versions.fetch(versions.untracked(out))
        versions.apply(loaded)
        versions.fold_loaded(out, loaded, 60)
        source = out.sources[("inf", 0)]
        assert 0 < sum(source.late) < len(source.valid)
        hist = [p for p in source.partials if p.name.startswith(("hist:", "dq:"))]
        keys = [p[:6] for p in hist]
        assert len(keys) == len(set(keys))  # one partial per key
        latest: dict = {}  # a window's latest event: a bin's is that of the chunks it had events in
        for p in hist:
            latest[p[:4]] = max(latest.get(p[:4], 0.0), p.max_event_time)
        return {"latest": latest, **{p[:6]: (p.count, p.total) for p in hist}}

    whole, chunked = folded(10_000), folded(7)
    assert chunked == whole
    on_time = sum(v[0] for k, v in whole.items() if k != "latest" and k[4] == "hist:x")
    assert 0 < on_time < 120
