"""The store's rate windows carry the same 95% Wilson interval as ``wilson_interval``, clamps
included: a window of no successes starts at 0 (not -0.00), one of all successes ends at 1."""

from __future__ import annotations

import uuid

import pytest

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.schema import OUTCOME_PREFIX
from monitor.folding.partials import Partial
from monitor.outcomes.intervals import wilson_interval

W = 60
TRIALS = (1, 2, 3, 7, 10, 49, 50, 313, 1000, 12_345, 10**6)


@pytest.fixture
def store(chdb_dir) -> ClickHouseStore:
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    return store


def test_rate_windows_have_the_wilson_interval_and_its_clamps(store: ClickHouseStore) -> None:
    counts = sorted({(k, n) for n in TRIALS for k in (0, 1, n // 3, n - 1, n) if 0 <= k <= n})
    partials = [
        Partial(0.0, W, "m", f"v{k}-{n}", OUTCOME_PREFIX + "satisfaction", "", n, k, 1.0)
        for k, n in counts
    ]
    store.write_batch({("t", 0): (0, float(W), partials)})
    store.refresh_metric_windows(0.0)
    rows = store.query(
        f"SELECT model_version, value, low, high FROM {store.db}.metric_windows FINAL "
        "WHERE metric = 'satisfaction'"
    ).rows

    assert len(rows) == len(counts)
    for version, value, low, high in rows:
        k, n = (int(x) for x in version[1:].split("-"))
        rate = wilson_interval(k, n)
        assert value == pytest.approx(rate.value, abs=1e-15)
        assert low == pytest.approx(rate.low, abs=1e-12) and high == pytest.approx(
            rate.high, abs=1e-12
        )
        assert 0.0 <= low <= value <= high <= 1.0, (k, n, low, high)
        if k == 0:
            assert low == 0.0, (n, low)
        if k == n:
            assert high == 1.0, (n, high)
