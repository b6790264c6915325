"""Experiment sums and results in ClickHouse: the merged ``exp:*`` partials in, ``experiment_results`` out."""

from __future__ import annotations

from typing import Any

from monitor.adapters.reader import Reader
from monitor.contract.timestamps import utc_datetime
from monitor.experiments.fold import ASSIGNED, EXPERIMENT_PREFIX
from monitor.experiments.report import ExperimentSummary, MetricRow

__all__ = ["RESULT_COLUMNS", "read_experiment_models", "read_experiment_sums", "result_rows"]

RESULT_COLUMNS = (
    "experiment",
    "metric",
    "segment",
    "control",
    "treatment",
    "n_control",
    "n_treatment",
    "value_control",
    "value_treatment",
    "diff",
    "ci_low",
    "ci_high",
    "lift",
    "lift_ci_low",
    "lift_ci_high",
    "p_value",
    "significant",
    "guardrail",
    "harmed",
    "primary",
    "srm_p_value",
    "srm_sequential_p_value",
    "srm",
    "decision",
    "reason",
    "remaining_sample",
    "updated_at",
)


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


def read_experiment_models(reader: Reader, db: str) -> dict[str, str]:
    """The model each experiment's requests came from (one of them, if several)."""
    result = reader.query(
        f"SELECT splitByChar('\t', bucket)[1] AS experiment, any(model) FROM {db}.partials "
        "WHERE name = {assigned:String} GROUP BY experiment",
        {"assigned": ASSIGNED},
    )
    return {str(e): str(m) for e, m in result.rows}


def result_rows(
    reports: list[tuple[list[MetricRow], ExperimentSummary]], now: float
) -> list[list[Any]]:
    """Rows of ``experiment_results``: each metric row, then the summary row (metric ``''``)."""
    out: list[list[Any]] = []
    at = utc_datetime(now)
    for rows, s in reports:
        for r in rows:
            out.append(
                [
                    r.experiment,
                    r.metric,
                    r.segment,
                    r.control,
                    r.treatment,
                    r.n_control,
                    r.n_treatment,
                    r.value_control,
                    r.value_treatment,
                    r.diff,
                    r.ci_low,
                    r.ci_high,
                    r.lift,
                    r.lift_ci_low,
                    r.lift_ci_high,
                    r.p_value,
                    int(r.significant),
                    int(r.guardrail),
                    int(r.harmed),
                    int(r.primary),
                    s.srm_p_value,
                    s.srm_sequential_p_value,
                    int(s.srm),
                    s.decision,
                    s.reason,
                    s.remaining_sample,
                    at,
                ]
            )
        nan = float("nan")
        out.append(
            [
                s.experiment,
                "",
                "",
                s.control,
                s.treatment,
                s.n_control,
                s.n_treatment,
                nan,
                nan,
                nan,
                nan,
                nan,
                nan,
                nan,
                nan,
                nan,
                0,
                0,
                0,
                0,
                s.srm_p_value,
                s.srm_sequential_p_value,
                int(s.srm),
                s.decision,
                s.reason,
                s.remaining_sample,
                at,
            ]
        )
    return out
