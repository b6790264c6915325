"""Experiment sums and results in ClickHouse: the merged ``exp:*`` partials in, ``experiment_results`` out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import fields
from typing import Any, NamedTuple

from monitor.adapters.reader import Reader
from monitor.contract.timestamps import utc_datetime
from monitor.experiments.fold import ASSIGNED, EXPERIMENT_PREFIX
from monitor.experiments.report import (
    METRIC_ROW_COLUMNS,
    RESULT_COLUMNS,
    SUMMARY_COLUMNS,
    ExperimentScope,
    ExperimentSummary,
    MetricRow,
)

__all__ = [
    "RESULT_COLUMNS",
    "ReportedExperiments",
    "read_experiment_scopes",
    "read_experiment_sums",
    "reported_experiments",
    "result_rows",
]

# A summary row's value of a column only metric rows have, by the column's type.
_EMPTY: dict[str, Any] = {"str": "", "float": math.nan, "bool": 0}
_METRIC_ROW_TYPES = {f.name: str(f.type) for f in fields(MetricRow)}


# The experiment of a bucket (experiment, variant, segment)
_EXPERIMENT = "splitByChar('\t', bucket)[1]"


class ReportedExperiments(NamedTuple):
    """The experiments a report covers, and how many undeclared ones were left out of it."""

    names: list[str]
    left_out: int


def reported_experiments(
    reader: Reader, db: str, declared: Sequence[str], max_undeclared: int
) -> ReportedExperiments:
    """The declared experiments, and the ``max_undeclared`` others with the most assignments
    (ties: the smallest name): what the leader reports, exports and alerts on
    (:mod:`monitor.experiments.bound`)."""
    undeclared = (
        f"FROM {db}.partials WHERE name = {{assigned:String}} "
        "AND splitByChar('\t', bucket)[3] = '' "  # segment '': every assignment once
        f"AND NOT has({{declared:Array(String)}}, {_EXPERIMENT})"
    )
    params = {"assigned": ASSIGNED, "declared": list(declared), "limit": max_undeclared}
    kept = reader.query(
        f"SELECT {_EXPERIMENT} AS experiment, sum(count) AS assigned {undeclared} "
        "GROUP BY experiment ORDER BY assigned DESC, experiment LIMIT {limit:UInt32}",
        params,
    ).rows
    total = reader.query(f"SELECT uniqExact({_EXPERIMENT}) {undeclared}", params).rows[0][0]
    others = [str(row[0]) for row in kept]
    return ReportedExperiments([*declared, *others], max(int(total) - len(others), 0))


def read_experiment_sums(
    reader: Reader, db: str, experiment: str | None = None, only: Sequence[str] | None = None
) -> list[tuple[str, str, float, float]]:
    """``(name, bucket, Σcount, Σtotal)`` of every experiment partial (of one experiment if named,
    of the experiments ``only`` names if given)."""
    where = "startsWith(name, {prefix:String})"
    params: dict[str, Any] = {"prefix": EXPERIMENT_PREFIX}
    if experiment is not None:
        where += " AND startsWith(bucket, {bucket:String})"
        params["bucket"] = f"{experiment}\t"
    if only is not None:
        where += f" AND has({{only:Array(String)}}, {_EXPERIMENT})"
        params["only"] = list(only)
    result = reader.query(
        f"SELECT name, bucket, sum(count), sum(total) FROM {db}.partials WHERE {where} "
        "GROUP BY name, bucket ORDER BY name, bucket",
        params,
    )
    return [(str(n), str(b), float(c), float(t)) for n, b, c, t in result.rows]


def read_experiment_scopes(
    reader: Reader, db: str, only: Sequence[str] | None = None
) -> dict[str, ExperimentScope]:
    """The models and model versions each experiment's assigned requests ran on (of the
    experiments ``only`` names if given)."""
    where = "name = {assigned:String}"
    params: dict[str, Any] = {"assigned": ASSIGNED}
    if only is not None:
        where += " AND has({only:Array(String)}, experiment)"
        params["only"] = list(only)
    result = reader.query(
        f"SELECT {_EXPERIMENT} AS experiment, arraySort(groupUniqArray(model)), "
        f"arraySort(groupUniqArray(model_version)) FROM {db}.partials "
        f"WHERE {where} GROUP BY experiment",
        params,
    )
    return {
        str(e): ExperimentScope(tuple(map(str, m)), tuple(map(str, v))) for e, m, v in result.rows
    }


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return list(value) if isinstance(value, tuple) else value


def result_rows(
    reports: list[tuple[list[MetricRow], ExperimentSummary]], now: float
) -> list[list[Any]]:
    """Rows of ``experiment_results`` (columns :data:`RESULT_COLUMNS`): each metric row with its
    experiment's summary columns, then the summary row (metric ``''``)."""
    at = utc_datetime(now)
    out: list[list[Any]] = []
    for rows, s in reports:
        for r in rows:
            out.append(
                [
                    at
                    if c == "updated_at"
                    else _cell(getattr(r if c in METRIC_ROW_COLUMNS else s, c))
                    for c in RESULT_COLUMNS
                ]
            )
        out.append(
            [
                at
                if c == "updated_at"
                else _cell(getattr(s, c))
                if c in SUMMARY_COLUMNS
                else _EMPTY[_METRIC_ROW_TYPES[c]]
                for c in RESULT_COLUMNS
            ]
        )
    return out
