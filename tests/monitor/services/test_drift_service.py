"""DriftService on embedded ClickHouse: automatic baselines, tumbling and sliding window scores."""

from __future__ import annotations

import uuid

import numpy as np

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.drift_store import DriftStore
from monitor.drift.baseline import build_baseline
from monitor.drift.windows import fold_drift
from monitor.folding.partials import fold_counts
from monitor.services.drift import DriftService
from monitor.settings import Settings

W = 60


def store_for(chdb_dir) -> ClickHouseStore:
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    return store


def write_windows(
    store: ClickHouseStore, baseline_id: str, baseline, sizes: list[int], shift_from: int
) -> None:
    rng = np.random.default_rng(4)
    offset = 0
    for w, n in enumerate(sizes):
        features = [
            {"x": float(rng.normal(3.0 if w >= shift_from else 0.0, 1.0))} for _ in range(n)
        ]
        starts = np.full(n, float(w * W))
        times = starts + 1.0
        partials = fold_drift(
            {("m", "v1"): (baseline_id, baseline)},
            features,
            [None] * n,
            starts,
            ["m"] * n,
            ["v1"] * n,
            times,
            W,
        )
        offset += n
        store.write_batch(
            {("t", 0): (offset, float(w * W + 30), partials)}
        )  # watermark inside window w


def test_sliding_windows_sum_the_last_windows_and_tumbling_rows_stay(chdb_dir):
    store = store_for(chdb_dir)
    drift = DriftStore(store)
    rng = np.random.default_rng(1)
    baseline = build_baseline(
        "m", "v1", [{"features": {"x": float(v)}} for v in rng.normal(0, 1, 2000)], now=0.0
    )
    baseline_id = drift.save_baseline(baseline, "b1")
    write_windows(store, baseline_id, baseline, [300, 400, 500, 200], shift_from=2)
    service = DriftService(
        drift, Settings(drift_sliding_windows=2, allowed_lateness="0s", drift_min_samples=50)
    )
    service.score_closed_windows(now=10_000.0)
    rows = store.query(
        "SELECT toFloat64(window_start), toFloat64(window_end), n_current, severity FROM "
        f"{store.db}.drift_windows FINAL WHERE feature = 'x' ORDER BY window_end, window_start"
    ).rows
    tumbling = [(s, n, sev) for s, e, n, sev in rows if e - s == W]
    sliding = [(s, n) for s, e, n, _ in rows if e - s == 2 * W]
    # the newest window (180-240) is not closed: the watermark is inside it
    assert [(s, n) for s, n, _ in tumbling] == [(0.0, 300), (60.0, 400), (120.0, 500)]
    assert [sev for _, _, sev in tumbling] == ["none", "none", "significant"]
    assert sliding == [(-60.0, 300), (0.0, 700), (60.0, 900)]


def test_automatic_baseline_from_the_first_samples(chdb_dir):
    store = store_for(chdb_dir)
    drift = DriftStore(store)
    samples = [
        ("m", "v9", float(i), f"r{i}", {"features": {"x": float(i % 10), "lang": "en"}})
        for i in range(40)
    ]
    drift.add_samples(samples[:25])
    service = DriftService(drift, Settings(baseline_samples=30))
    assert service.build_automatic_baselines(now=1.0) == []  # 25 of 30 samples: not yet
    drift.add_samples(samples[25:])
    built = service.build_automatic_baselines(now=2.0)
    assert len(built) == 1
    active = drift.active_baselines()[("m", "v9")][1]
    assert active.n == 30 and set(active.features) == {"x", "lang"}
    assert (
        drift.sample_counts().get(("m", "v9"), 0) == 0
    )  # samples cleared once the baseline exists


def fold_window(baseline_id, baseline, w: int, n: int, rng, binned: bool = True) -> list:
    """Partials of ``n`` events in window ``w``: their count, and their histograms when ``binned``."""
    starts = np.full(n, float(w * W))
    partials = fold_counts(
        starts, ["m"] * n, ["v1"] * n, starts + 1.0, "inference_events", window_seconds=W
    )
    if binned:
        features = [{"x": float(v)} for v in rng.normal(0, 1, n)]
        partials += fold_drift(
            {("m", "v1"): (baseline_id, baseline)},
            features,
            [None] * n,
            starts,
            ["m"] * n,
            ["v1"] * n,
            starts + 1.0,
            W,
        )
    return partials


def scored(store) -> list[tuple]:
    return store.query(
        f"SELECT toFloat64(window_start), n_current, n_events, partial, severity FROM "
        f"{store.db}.drift_windows FINAL WHERE feature = 'x' ORDER BY window_start"
    ).rows


def test_a_window_folded_partly_without_its_baseline_is_scored_partial(chdb_dir):
    store = store_for(chdb_dir)
    drift = DriftStore(store)
    rng = np.random.default_rng(2)
    baseline = build_baseline(
        "m", "v1", [{"features": {"x": float(v)}} for v in rng.normal(0, 1, 2000)], now=0.0
    )
    baseline_id = drift.save_baseline(baseline, "b1")
    # window 0: 50 events folded before the worker had the baseline (counted, not binned), then 300
    store.write_batch(
        {("t", 0): (0, 30.0, fold_window(baseline_id, baseline, 0, 50, rng, binned=False))}
    )
    store.write_batch({("t", 0): (1, 30.0, fold_window(baseline_id, baseline, 0, 300, rng))})
    store.write_batch({("t", 0): (2, 90.0, fold_window(baseline_id, baseline, 1, 400, rng))})
    store.write_batch(
        {("t", 0): (3, 150.0, fold_window(baseline_id, baseline, 2, 10, rng))}
    )  # open window
    DriftService(drift, Settings(allowed_lateness="0s", drift_min_samples=50)).score_closed_windows(
        now=10_000.0
    )
    assert [r[:4] for r in scored(store)] == [(0.0, 300, 350, 1), (60.0, 400, 400, 0)]


def test_a_baseline_replaced_mid_window_scores_the_window_partial(chdb_dir):
    store = store_for(chdb_dir)
    drift = DriftStore(store)
    rng = np.random.default_rng(3)
    old = build_baseline(
        "m", "v1", [{"features": {"x": float(v)}} for v in rng.normal(0, 1, 500)], now=0.0
    )
    new = build_baseline(
        "m", "v1", [{"features": {"x": float(v)}} for v in rng.normal(0, 2, 500)], now=1.0
    )
    drift.save_baseline(old, "old")
    store.write_batch({("t", 0): (0, 30.0, fold_window("old", old, 0, 120, rng))})
    drift.save_baseline(new, "new")
    store.write_batch({("t", 0): (1, 30.0, fold_window("new", new, 0, 200, rng))})
    store.write_batch({("t", 0): (2, 90.0, fold_window("new", new, 1, 80, rng))})
    store.write_batch({("t", 0): (3, 150.0, fold_window("new", new, 2, 10, rng))})
    DriftService(
        drift, Settings(allowed_lateness="0s", drift_min_samples=100)
    ).score_closed_windows(now=10_000.0)
    rows = scored(store)
    assert [r[:4] for r in rows] == [
        (0.0, 200, 320, 1),
        (60.0, 80, 80, 0),
    ]  # the baseline of most values
    assert rows[1][4] == "insufficient"  # below min_samples: counts kept, not scored


def test_a_new_version_copies_the_previous_baseline_when_configured(chdb_dir):
    drift = DriftStore(store_for(chdb_dir))
    drift.save_baseline(
        build_baseline("m", "v1", [{"features": {"x": float(i)}} for i in range(40)], now=1.0), "b1"
    )
    drift.add_samples(
        [("m", "v2", 5.0, "r1", {"features": {"x": 1.0}})]
    )  # 1 sample: too few to build from
    assert (
        DriftService(drift, Settings(baseline_samples=30)).build_automatic_baselines(now=6.0) == []
    )
    built = DriftService(
        drift, Settings(baseline_samples=30, baseline_from_previous=True)
    ).build_automatic_baselines(now=7.0)
    copied = drift.active_baselines()[("m", "v2")]
    assert copied[0] == built[0] and copied[1].source == "copied from v1"
    assert (
        DriftService(drift, Settings(baseline_from_previous=True)).build_automatic_baselines(
            now=8.0
        )
        == []
    )
