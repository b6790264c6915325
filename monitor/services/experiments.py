"""Leader job: rewrite ``experiment_results`` from the merged experiment partials.

The partials are written exactly once with their offsets, and the results are recomputed from
all of them each time (ReplacingMergeTree, latest wins), so a crash or a replay never counts a
request twice in a result.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.experiment_store import RESULT_COLUMNS, read_experiment_sums, result_rows
from monitor.experiments.config import ExperimentSpec
from monitor.experiments.report import ExperimentSummary, MetricRow
from monitor.experiments.results import experiment_reports

__all__ = ["ExperimentResults"]

Report = tuple[list[MetricRow], ExperimentSummary]


class ExperimentResults:
    def __init__(self, store: ClickHouseStore, specs: Sequence[ExperimentSpec] = ()) -> None:
        self.store = store
        self.specs = tuple(specs)

    def run(self, now: float) -> list[Report]:
        """Every experiment's report, written to ``experiment_results``; returns them."""
        reports = experiment_reports(read_experiment_sums(self.store, self.store.db), self.specs)
        self.store.insert("experiment_results", result_rows(reports, now), RESULT_COLUMNS)
        return reports
