"""Shadow sums and results in ClickHouse: the merged ``shadow:*`` partials in, ``shadow_results`` out."""

from __future__ import annotations

from typing import Any

from monitor.adapters.reader import Reader
from monitor.catalogue import SHADOW_PREFIX
from monitor.contract.timestamps import utc_datetime
from monitor.shadow.report import ShadowReport

__all__ = ["RESULT_COLUMNS", "read_shadow_sums", "result_rows"]

RESULT_COLUMNS = (
    "model",
    "production_version",
    "shadow_version",
    "metric",
    "n",
    "value",
    "diff",
    "ci_low",
    "ci_high",
    "margin",
    "status",
    "pairs",
    "shadow_events",
    "shadow_error_rate",
    "verdict",
    "reason",
    "updated_at",
)


def read_shadow_sums(
    reader: Reader, db: str, model: str | None = None
) -> list[tuple[str, str, str, str, float, float]]:
    """``(model, version, name, bucket, Σcount, Σtotal)`` of every shadow partial (of one model if named)."""
    where = "startsWith(name, {prefix:String})"
    params: dict[str, Any] = {"prefix": SHADOW_PREFIX}
    if model is not None:
        where += " AND model = {model:String}"
        params["model"] = model
    result = reader.query(
        f"SELECT model, model_version, name, bucket, sum(count), sum(total) FROM {db}.partials "
        f"WHERE {where} GROUP BY model, model_version, name, bucket "
        "ORDER BY model, model_version, name, bucket",
        params,
    )
    return [
        (str(m), str(v), str(n), str(b), float(c), float(t)) for m, v, n, b, c, t in result.rows
    ]


def result_rows(reports: list[ShadowReport], now: float) -> list[list[Any]]:
    """Rows of ``shadow_results``: each metric, then the summary row (metric ``''``)."""
    out: list[list[Any]] = []
    at = utc_datetime(now)
    nan = float("nan")
    for r in reports:
        head = [r.model, r.production_version, r.shadow_version]
        tail = [r.pairs, r.shadow_events, r.shadow_error_rate, r.verdict, r.reason, at]
        for d in r.metrics:
            out.append(
                [
                    *head,
                    d.metric,
                    d.n,
                    d.value,
                    d.diff,
                    d.ci_low,
                    d.ci_high,
                    d.margin,
                    d.status,
                    *tail,
                ]
            )
        out.append([*head, "", r.pairs, nan, nan, nan, nan, None, "", *tail])
    return out
