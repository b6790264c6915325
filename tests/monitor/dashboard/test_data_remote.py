"""The dashboard's data read through a worker's store (``monitor ui`` against a store a worker owns):
JSON has no NaN, so every undefined figure arrives as null, and the pages still render."""

from __future__ import annotations

import math
import uuid
from pathlib import Path

from tests_support import serve_store

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.experiment_store import RESULT_COLUMNS, result_rows
from monitor.adapters.remote_store import RemoteStore
from monitor.dashboard import data, pages
from monitor.dashboard.filters import Filters
from monitor.experiments.report import ExperimentSummary, MetricRow


def _metric(name: str, p_value: float) -> MetricRow:
    return MetricRow(
        "exp", name, "", "v1", "v2", 500, 500, 0.5, 0.6, 0.1, 0.02, 0.18, 0.2, 0.04, 0.36,
        p_value, True, False, False, name == "task_completion",
    )  # fmt: skip


def test_experiments_with_undefined_figures_render_through_a_worker_store(chdb_dir: Path) -> None:
    # the test process's one embedded store directory: chdb opens a single one per process
    url = f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}"
    store = ClickHouseStore(url).connect()
    store.migrate()
    summary = ExperimentSummary(
        "exp", "v1", "v2", 500, 500, 0.9, 0.9, False, "continue", "not decided yet", None, 1.0,
        ("chat",), ("v1", "v2"),
    )  # fmt: skip
    # the summary row has no difference (NaN), and a zero-variance metric has no p-value
    reports = [([_metric("task_completion", 0.01), _metric("bad_case", math.nan)], summary)]
    for at in (100.0, 200.0):  # two reports: a history of each metric
        store.insert("experiment_results", result_rows(reports, at), RESULT_COLUMNS)
    server = serve_store(store)
    try:
        remote = RemoteStore(url, f"http://127.0.0.1:{server.server_port}").connect(timeout=10)
        assert remote.query("SELECT nan").rows == [(None,)]  # what makes this path differ

        [experiment] = data.experiments(remote, Filters())
        html = pages.experiments_page([experiment])
    finally:
        server.shutdown()
        store.close()
    assert [m.metric for m in experiment.metrics] == ["task_completion", "bad_case"]
    assert math.isnan(experiment.metrics[1].p_value)
    # each metric's history holds its own two reports, not the summary row's undefined ones
    assert [len(m.history) for m in experiment.metrics] == [2, 2]
    assert "task_completion" in html and "bad_case" in html and "nan" not in html.lower()
