"""10,000 model versions through the batch path (process_batch, version state, outcome stage with the
in-process join store, the detector owner, the embedded store, Prometheus bookkeeping): memory and batch time stay bounded.

Asserted as caps and ratios, never as absolute timings: the Python memory held after the caps are
reached grows by less than a fixed fraction while another 8,000 versions pass, and the late batches
take no more than a constant factor of the early ones' time.
"""

from __future__ import annotations

import gc
import time
import uuid

import orjson
from prometheus_client import CollectorRegistry

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.drift_store import DriftStore
from monitor.adapters.join_store import MemoryJoinStore
from monitor.adapters.outcome_store import OutcomeStore
from monitor.adapters.prometheus_metrics import MonitorMetrics
from monitor.folding.pipeline import BatchConfig, Position, RawMessage, process_batch
from monitor.services.detectors import DetectorOwner, ValuesMessage
from monitor.services.drift import sample_records
from monitor.services.outcomes import OutcomeStage
from monitor.services.versions import VersionStates
from streams.observe import record_batch_metrics, record_detections, record_outcome_metrics

VERSIONS, PER_BATCH = 10_000, 100
BATCHES = VERSIONS // PER_BATCH
FEEDBACK = (BATCHES - 1) * PER_BATCH // 4  # a quarter of the versions of every batch but the last
CAP_VERSIONS, CAP_DETECTORS, CAP_JOIN = 300, 300, 3_000
NOW = 1_795_000_000.0


def messages(batch: int) -> list[RawMessage]:
    """Two inferences per version of this batch, and feedback for the previous batch's requests."""
    out = []
    for j in range(PER_BATCH):
        version = f"v{batch * PER_BATCH + j}"
        for k in range(2):
            out.append(
                RawMessage(
                    "inf",
                    0,
                    batch * 2 * PER_BATCH + 2 * j + k,
                    orjson.dumps(
                        {
                            "request_id": f"{version}-{k}",
                            "timestamp": NOW - 500 + batch,
                            "model": "m",
                            "model_version": version,
                            "latency_ms": 100.0 + j + k,
                            "prediction": "a",
                            "features": {"x": float(j % 7), "lang": "en"},
                        }
                    ),
                    "inference",
                )
            )
        if batch and j % 4 == 0:  # feedback for a quarter of the versions
            previous = f"v{(batch - 1) * PER_BATCH + j}"
            out.append(
                RawMessage(
                    "fb",
                    0,
                    batch * PER_BATCH + j,
                    orjson.dumps(
                        {
                            "request_id": f"{previous}-0",
                            "timestamp": NOW - 400 + batch,
                            "rating": 1 + j % 5,
                            "label": "a" if j % 3 else "b",
                        }
                    ),
                    "feedback",
                )
            )
    return out


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_ten_thousand_versions_keep_memory_and_batch_time_bounded(chdb_dir):
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    drift = DriftStore(store)
    join = MemoryJoinStore(max_records=CAP_JOIN)
    stage = OutcomeStage(join, window_seconds=60)
    owner = DetectorOwner(OutcomeStore(store), "values", max_detectors=CAP_DETECTORS)
    versions = VersionStates(drift, max_versions=CAP_VERSIONS, baseline_samples=1)
    metrics = MonitorMetrics(CollectorRegistry(), max_model_labels=50)
    positions: dict[tuple[str, int], Position] = {}
    seconds: list[float] = []
    objects: dict[int, int] = {}
    memory: dict[int, int] = {}
    joined = 0
    for b in range(BATCHES):
        started = time.process_time()  # CPU time: other processes on the machine do not count
        out = process_batch(messages(b), positions, BatchConfig(60, 600, 300, NOW))
        loaded = versions.fetch(versions.untracked(out))
        versions.apply(loaded)
        versions.fold_loaded(out, loaded, 60)
        outcomes = stage.process(out, NOW)
        store.write_batch(
            {s: (o.last_offset, o.watermark, o.partials) for s, o in out.sources.items()}
        )
        positions.update({s: Position(o.last_offset, o.watermark) for s, o in out.sources.items()})
        drift.add_samples(sample_records(versions.take_samples(out.inferences)))
        metrics.state_evictions.labels(state="version").inc(versions.trim())
        detected = owner.process(
            [ValuesMessage(0, b * 1000 + i, v) for i, v in enumerate(outcomes.values)], NOW
        )
        metrics.state_evictions.labels(state="detector").inc(detected.evicted)
        record_batch_metrics(metrics, out)
        record_outcome_metrics(metrics, outcomes)
        record_detections(metrics, detected)
        seconds.append(time.process_time() - started)
        joined += len(outcomes.outcomes)
        assert len(owner.sets) <= CAP_DETECTORS and len(versions) <= CAP_VERSIONS
        assert len(join._by_age) <= CAP_JOIN
        if b in (19, BATCHES - 1):
            gc.collect()
            objects[b], memory[b] = len(gc.get_objects()), rss()

    # everything was written and joined: 2 inferences per version, every feedback matched its inference
    total = store.query(
        f"SELECT sum(count) FROM {store.db}.partials WHERE name = 'inference_events'"
    ).rows[0][0]
    assert total == 2 * VERSIONS and joined == FEEDBACK
    # the caps held and every eviction was counted: one detector set per version (its feedback comes
    # one batch later, while the set is still in memory)
    assert len(owner.sets) == CAP_DETECTORS
    assert (
        metrics.registry.get_sample_value("monitor_state_evictions_total", {"state": "detector"})
        == owner.evicted
        == VERSIONS - CAP_DETECTORS
    )
    assert (
        metrics.registry.get_sample_value("monitor_state_evictions_total", {"state": "version"})
        == VERSIONS - CAP_VERSIONS
    )
    assert (
        len(metrics._model_pairs) == 50
        and metrics.registry.get_sample_value("monitor_model_labels_folded_total") > 0
    )
    assert (
        join.take_evicted() > 0
        and store.query(
            f"SELECT uniqExact(model_version) FROM {drift.store.table('baseline_samples')}"
        ).rows[0][0]
        == VERSIONS
    )
    early, late = sorted(seconds[2:12])[5], sorted(seconds[-10:])[5]
    print(
        f"\n10,000 versions: Python objects {objects[19]} at batch 20, {objects[BATCHES - 1]} at the end; RSS "
        f"{memory[19] / 1e6:.0f} / {memory[BATCHES - 1] / 1e6:.0f} MB; median batch CPU {early * 1000:.0f} ms "
        f"(batches 3-12) / {late * 1000:.0f} ms (last 10); evicted: {owner.evicted} detector sets, "
        f"{versions.evicted} versions"
    )
    # memory: every cap is full by batch 20; the 8,000 versions after it leave the Python heap flat
    settled, final = objects[19], objects[BATCHES - 1]
    assert final < settled * 1.05, (
        f"Python objects grew from {settled} to {final}; RSS "
        f"{memory[19] / 1e6:.0f} -> {memory[BATCHES - 1] / 1e6:.0f} MB"
    )
    # time: the median of the last 10 batches (1,000 versions) within a constant factor of batches 3-12
    assert late < 3 * early, (
        f"median batch {early * 1000:.0f} ms CPU early, {late * 1000:.0f} ms late"
    )
