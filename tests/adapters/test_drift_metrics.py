"""The drift gauges show each model version's newest scored window, and nothing it no longer scores:
windows scored by DriftService on embedded ClickHouse, exported as the leader's timer does."""

from __future__ import annotations

import time
import uuid

import numpy as np
from prometheus_client import CollectorRegistry

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.drift_store import DriftStore
from monitor.adapters.prometheus_metrics import MonitorMetrics
from monitor.drift.baseline import build_baseline
from monitor.drift.windows import fold_drift
from monitor.services.drift import DriftService
from monitor.settings import Settings

W = 60


class Windows:
    """Drift partials of model ``m``'s versions written to a fresh store, one batch per call."""

    def __init__(self, chdb_dir) -> None:
        self.store = ClickHouseStore(
            f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}"
        ).connect()
        self.store.migrate()
        self.drift = DriftStore(self.store)
        self.rng = np.random.default_rng(5)
        reference = [{"features": {"x": float(v)}} for v in self.rng.normal(0, 1, 2000)]
        self.baselines = {}
        for version in ("v1", "v2", "v3"):
            baseline = build_baseline("m", version, reference, now=0.0)
            self.baselines[version] = (self.drift.save_baseline(baseline, f"b-{version}"), baseline)
        self.offset = 0

    def write(self, window: int, events: dict[str, tuple[int, float]], watermark: float) -> None:
        """``events[version] = (n, mean of x)`` in window ``window``."""
        versions = [v for v, (n, _) in events.items() for _ in range(n)]
        features = [
            {"x": float(self.rng.normal(mean, 1.0))}
            for n, mean in events.values()
            for _ in range(n)
        ]
        starts = np.full(len(versions), float(window * W))
        partials = fold_drift(
            {("m", v): self.baselines[v] for v in events},
            features,
            [None] * len(versions),
            starts,
            ["m"] * len(versions),
            versions,
            starts + 1.0,
            W,
        )
        self.offset += len(versions)
        self.store.write_batch({("t", 0): (self.offset, watermark, partials)})


def severity(m: MonitorMetrics, version: str) -> float | None:
    labels = {"model": "m", "model_version": version, "feature": "x"}
    return m.registry.get_sample_value("monitor_drift_severity", labels)


def psi(m: MonitorMetrics, version: str) -> float | None:
    labels = {"model": "m", "model_version": version, "feature": "x"}
    return m.registry.get_sample_value("monitor_drift_psi", labels)


def test_a_version_no_longer_scored_loses_its_drift_series_and_the_others_stay(chdb_dir):
    """Window 0 scores three versions, all drifted (significant). In window 1, v1 has too few
    events (insufficient), v2 is scored again (drifted less) and v3 has no event: only v2 keeps
    series, with window 1's scores."""
    windows = Windows(chdb_dir)
    service = DriftService(windows.drift, Settings(allowed_lateness="0s", drift_min_samples=100))
    m = MonitorMetrics(CollectorRegistry())

    windows.write(0, {"v1": (400, 3.0), "v2": (400, 3.0), "v3": (400, 3.0)}, watermark=W + 1.0)
    m.set_drift(service.score_closed_windows(time.time()))
    assert [severity(m, v) for v in ("v1", "v2", "v3")] == [2.0, 2.0, 2.0]
    drifted = psi(m, "v2")
    assert drifted is not None and drifted >= 0.25

    windows.write(1, {"v1": (30, 3.0), "v2": (400, 0.0)}, watermark=2 * W + 1.0)
    scored = service.score_closed_windows(time.time())  # window 0 again too: touched < 5 s ago
    assert {(v, start) for _, v, start, _ in scored if start == W} == {("v1", W), ("v2", W)}
    m.set_drift(scored)
    assert severity(m, "v1") is None and psi(m, "v1") is None  # insufficient
    assert severity(m, "v3") is None and psi(m, "v3") is None  # no event in the newest window
    assert severity(m, "v2") == 0.0 and psi(m, "v2") < 0.1  # scored: updated
    for name in ("monitor_drift_kl", "monitor_drift_js_distance"):
        gone = {"model": "m", "model_version": "v1", "feature": "x"}
        assert m.registry.get_sample_value(name, gone) is None
        assert m.registry.get_sample_value(name, {**gone, "model_version": "v2"}) is not None


def test_an_older_window_rescored_for_late_events_does_not_replace_the_newest(chdb_dir):
    """Late events re-score window 0 (drifted) after window 1 (no drift) was exported: the gauges
    keep showing window 1, and the late window does not bring back a version window 1 lacks."""
    windows = Windows(chdb_dir)
    service = DriftService(windows.drift, Settings(allowed_lateness="0s", drift_min_samples=100))
    m = MonitorMetrics(CollectorRegistry())
    windows.write(0, {"v1": (400, 3.0), "v2": (400, 3.0)}, watermark=W + 1.0)
    windows.write(1, {"v1": (400, 0.0)}, watermark=2 * W + 1.0)
    # a refresh 6 s after these writes: the next one re-scores only what is written after it
    m.set_drift(service.score_closed_windows(time.time() + 6.0))
    assert severity(m, "v1") == 0.0

    time.sleep(1.5)
    windows.write(0, {"v1": (50, 3.0), "v2": (50, 3.0)}, watermark=2 * W + 2.0)  # late, merged
    scored = service.score_closed_windows(time.time())
    assert {(v, start) for _, v, start, _ in scored} == {("v1", 0.0), ("v2", 0.0)}
    m.set_drift(scored)
    assert severity(m, "v1") == 0.0  # window 0 scores 2 (significant): not the newest window
    assert severity(m, "v2") is None
