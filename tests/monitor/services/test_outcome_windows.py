from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.drift_store import DriftStore
from monitor.adapters.schema import OUTCOME_PREFIX
from monitor.drift.baseline import Baseline
from monitor.folding.partials import Partial, fold_sketches
from monitor.outcomes.sketch import RELATIVE_ACCURACY
from monitor.services.outcome_windows import OutcomeWindows, previous_versions

WINDOW = 60
W0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
Z = 1.959963984540054


def test_each_version_is_compared_with_the_one_seen_just_before() -> None:
    first_seen = {
        ("m", "v1"): 0.0,
        ("m", "v3"): 20.0,
        ("m", "v2"): 10.0,
        ("n", "a"): 5.0,
        ("n", "b"): 1.0,
    }
    assert previous_versions(first_seen, {}) == {
        ("m", "v2"): "v1",
        ("m", "v3"): "v2",
        ("n", "a"): "b",
    }


def test_a_stable_version_is_the_reference_of_every_other_version_of_its_model_only() -> None:
    first_seen = {
        ("m", "v1"): 0.0,
        ("m", "v2"): 10.0,
        ("m", "v3"): 20.0,
        ("n", "a"): 0.0,
        ("n", "b"): 1.0,
    }
    assert previous_versions(first_seen, {"m": "v2"}) == {
        ("m", "v1"): "v2",
        ("m", "v3"): "v2",
        ("n", "b"): "a",
    }


def test_a_single_version_and_no_versions_have_no_reference() -> None:
    assert previous_versions({("m", "v1"): 3.0}, {}) == {}
    assert previous_versions({("m", "v1"): 3.0}, {"m": "v1"}) == {}
    assert previous_versions({}, {"m": "v1"}) == {}


def test_versions_first_seen_in_the_same_window_are_ordered_by_name() -> None:
    assert previous_versions({("m", "b"): 0.0, ("m", "a"): 0.0}, {}) == {("m", "b"): "a"}


@pytest.fixture()
def store(chdb_dir: Path) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    s.migrate()
    yield s
    s.command(f"DROP DATABASE IF EXISTS {s.db}")


def latency_partials(window: float, version: str, latencies: np.ndarray) -> list[Partial]:
    n = len(latencies)
    return fold_sketches(
        np.full(n, window),
        ["m"] * n,
        [version] * n,
        np.full(n, window),
        latencies,
        "sketch:latency_ms",
        window_seconds=WINDOW,
    )


def rate_partials(
    window: float, version: str, metric: str, successes: int, trials: int
) -> list[Partial]:
    return [
        Partial(
            window,
            WINDOW,
            "m",
            version,
            OUTCOME_PREFIX + metric,
            "",
            float(trials),
            float(successes),
            window,
        ),
        Partial(
            window,
            WINDOW,
            "m",
            version,
            "inference_events",
            "",
            float(trials),
            float(trials),
            window,
        ),
    ]


def windows_rows(store: ClickHouseStore, where: str) -> dict[tuple, tuple]:
    rows = store.query(
        f"SELECT toFloat64(window_start), model_version, metric, value, count FROM {store.db}.metric_windows "
        f"FINAL WHERE {where}"
    ).rows
    return {(w, v, m): (value, count) for w, v, m, value, count in rows}


def test_run_writes_latency_quantiles_of_the_merged_sketches(store: ClickHouseStore) -> None:
    rng = np.random.default_rng(1)
    first, second = rng.lognormal(5, 1, 700), rng.lognormal(6, 0.5, 300)
    other = rng.lognormal(3, 0.3, 50)
    # two batches of the same window and version merge; another version and window stay apart
    store.write_batch(
        {
            ("inf", 0): (10, W0, latency_partials(W0, "v1", first)),
            ("inf", 1): (
                20,
                W0,
                latency_partials(W0, "v1", second) + latency_partials(W0 + WINDOW, "v2", other),
            ),
        }
    )
    assert OutcomeWindows(store).run(time.time()) == 2
    rows = windows_rows(store, "startsWith(metric, 'latency_p')")
    merged = np.concatenate([first, second])
    expected = {}
    for window, version, values in ((W0, "v1", merged), (W0 + WINDOW, "v2", other)):
        for metric, q in (
            ("latency_p50_ms", 0.5),
            ("latency_p95_ms", 0.95),
            ("latency_p99_ms", 0.99),
        ):
            exact = float(np.quantile(values, q, method="lower"))
            expected[(window, version, metric)] = (
                pytest.approx(exact, rel=RELATIVE_ACCURACY),
                float(len(values)),
            )
    assert rows == expected


def newcombe(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float, float]:
    p1, p2 = x1 / n1, x2 / n2
    (l1, h1), (l2, h2) = wilson_bounds(x1, n1), wilson_bounds(x2, n2)
    d = p1 - p2
    return (
        d,
        d - math.sqrt((p1 - l1) ** 2 + (h2 - p2) ** 2),
        d + math.sqrt((h1 - p1) ** 2 + (p2 - l2) ** 2),
    )


def wilson_bounds(x: int, n: int) -> tuple[float, float]:
    p = x / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return centre - half, centre + half


def pooled_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    pooled = (x1 + x2) / (n1 + n2)
    z = (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return math.erfc(abs(z) / math.sqrt(2))


def comparison_rows(store: ClickHouseStore) -> dict[tuple, tuple]:
    rows = store.query(
        f"SELECT toFloat64(window_start), model_version, metric, reference, value, reference_value, "
        f"difference, diff_low, diff_high, p_value, count, reference_count "
        f"FROM {store.db}.metric_comparisons FINAL"
    ).rows
    return {tuple(r[:4]): tuple(r[4:]) for r in rows}


def expected_comparison(x1: int, n1: int, x2: int, n2: int) -> tuple:
    d, low, high = newcombe(x1, n1, x2, n2)
    return tuple(
        pytest.approx(v, rel=1e-9, abs=1e-12)
        for v in (x1 / n1, x2 / n2, d, low, high, pooled_p_value(x1, n1, x2, n2), n1, n2)
    )


def test_run_compares_each_version_with_the_previous_one_and_with_its_baseline(
    store: ClickHouseStore,
) -> None:
    # v1 appears in W0, v2 in W0+60: v2 is compared with v1 in every window both have
    store.write_batch(
        {
            ("inf", 0): (
                5,
                W0,
                rate_partials(W0, "v1", "task_completion", 60, 100)
                + rate_partials(W0 + WINDOW, "v1", "task_completion", 70, 100)
                + rate_partials(W0 + WINDOW, "v1", "accuracy", 90, 120),
            ),
            ("inf", 1): (
                9,
                W0,
                rate_partials(W0 + WINDOW, "v2", "task_completion", 30, 80)
                + rate_partials(W0 + WINDOW, "v2", "accuracy", 40, 50)
                + rate_partials(W0 + WINDOW, "v2", "rating", 200, 50),
            ),
        }
    )
    DriftStore(store).save_baseline(
        Baseline("m", "v2", W0 - 86400, 1000, {}, accuracy=0.9, n_labeled=400)
    )
    store.refresh_metric_windows(0.0)
    assert OutcomeWindows(store).run(time.time()) == 2
    rows = comparison_rows(store)
    assert rows == {
        (W0 + WINDOW, "v2", "task_completion", "version:v1"): expected_comparison(30, 80, 70, 100),
        (W0 + WINDOW, "v2", "accuracy", "version:v1"): expected_comparison(40, 50, 90, 120),
        (W0 + WINDOW, "v2", "accuracy", "baseline"): expected_comparison(40, 50, 360, 400),
    }
    # 30/80 against 70/100 is a real difference; the interval excludes 0
    d, low, high = rows[(W0 + WINDOW, "v2", "task_completion", "version:v1")][2:5]
    assert low < d < high < 0


def test_a_stable_version_replaces_the_previous_one_as_reference(store: ClickHouseStore) -> None:
    store.write_batch(
        {
            ("inf", 0): (
                1,
                W0,
                rate_partials(W0, "v1", "human_takeover", 5, 50)
                + rate_partials(W0 + WINDOW, "v2", "human_takeover", 10, 50)
                + rate_partials(W0 + 2 * WINDOW, "v3", "human_takeover", 20, 50)
                + rate_partials(W0 + 2 * WINDOW, "v1", "human_takeover", 4, 40)
                + rate_partials(W0 + 2 * WINDOW, "v2", "human_takeover", 8, 40),
            )
        }
    )
    store.refresh_metric_windows(0.0)
    OutcomeWindows(store, {"m": "v1"}).run(time.time())
    assert set(comparison_rows(store)) == {
        (W0 + 2 * WINDOW, "v3", "human_takeover", "version:v1"),
        (W0 + 2 * WINDOW, "v2", "human_takeover", "version:v1"),
    }
    assert comparison_rows(store)[
        (W0 + 2 * WINDOW, "v3", "human_takeover", "version:v1")
    ] == expected_comparison(20, 50, 4, 40)
