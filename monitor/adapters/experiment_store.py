"""Experiment sums and results in ClickHouse: the merged ``exp:*`` partials in, ``experiment_results`` out."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

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

__all__ = ["RESULT_COLUMNS", "read_experiment_scopes", "read_experiment_sums", "result_rows"]

# A summary row's value of a column only metric rows have, by the column's type.
_EMPTY: dict[str, Any] = {"str": "", "float": math.nan, "bool": 0}
_METRIC_ROW_TYPES = {f.name: str(f.type) for f in fields(MetricRow)}


def read_experiment_sums(
    reader: Reader, db: str, experiment: str | None = None
) -> list[tuple[str, str, float, float]]:
    """``(name, bucket, Σcount, Σtotal)`` of every experiment partial (of one experiment if named)."""
    where = "startsWith(name, {prefix:String})"
    params: dict[str, Any] = {"prefix": EXPERIMENT_PREFIX}
    if experiment is not None:
        where += " AND startsWith(bucket, {bucket:String})"
        params["bucket"] = f"{experiment}\t"
    result = reader.query(
        f"SELECT name, bucket, sum(count), sum(total) FROM {db}.partials WHERE {where} "
        "GROUP BY name, bucket ORDER BY name, bucket",
        params,
    )
    return [(str(n), str(b), float(c), float(t)) for n, b, c, t in result.rows]


def read_experiment_scopes(reader: Reader, db: str) -> dict[str, ExperimentScope]:
    """The models and model versions each experiment's assigned requests ran on."""
    result = reader.query(
        f"SELECT splitByChar('\t', bucket)[1] AS experiment, arraySort(groupUniqArray(model)), "
        f"arraySort(groupUniqArray(model_version)) FROM {db}.partials "
        "WHERE name = {assigned:String} GROUP BY experiment",
        {"assigned": ASSIGNED},
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
