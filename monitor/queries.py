"""Trend queries for analysts: SQL with bound parameters, and the same SQL rendered to paste.

>>> sql, params = metrics_query("monitor", model="m'1", since=0.0)
>>> "{model:String}" in sql, render_sql(sql, params).count("'m\\\\'1'")
(True, 1)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "QUERY_KINDS",
    "alerts_query",
    "comparisons_query",
    "detections_query",
    "drift_query",
    "metrics_query",
    "render_sql",
    "table_query",
]

_PLACEHOLDER = re.compile(r"\{(\w+):([^}]+)\}")


def _quote(value: Any, type_name: str) -> str:
    if isinstance(value, (list, tuple)):
        inner = re.sub(r"^Array\((.*)\)$", r"\1", type_name)
        return "[" + ", ".join(_quote(v, inner) for v in value) + "]"
    if type_name.startswith("DateTime"):
        if isinstance(value, (int, float)):
            value = datetime.fromtimestamp(value, tz=UTC)
        elif value.tzinfo is not None:
            value = value.astimezone(UTC)
        return f"toDateTime64('{value.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}', 3, 'UTC')"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    escaped = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def render_sql(sql: str, parameters: dict[str, Any]) -> str:
    """Substitute each ``{name:Type}`` with a safely quoted literal, for display and pasting."""
    return _PLACEHOLDER.sub(lambda m: _quote(parameters[m.group(1)], m.group(2)), sql)


def _filters(filters: dict[str, tuple[str, str, Any]], since: float | None) -> tuple[str, dict[str, Any]]:
    clauses, params = [], {}
    for name, (column, type_name, value) in filters.items():
        if value is not None:
            clauses.append(f"{column} = {{{name}:{type_name}}}")
            params[name] = value
    if since is not None:
        clauses.append("window_start >= {since:DateTime64(3)}")
        params["since"] = datetime.fromtimestamp(since, tz=UTC)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def table_query(
    db: str, table: str, columns: str, *, filters: dict[str, tuple[str, str, Any]], since: float | None,
    order: str, limit: int = 10_000, final: bool = True,
) -> tuple[str, dict[str, Any]]:
    where, params = _filters(filters, since)
    sql = f"SELECT {columns} FROM {db}.{table}{' FINAL' if final else ''}{where} ORDER BY {order} LIMIT {int(limit)}"
    return sql, params


def metrics_query(
    db: str, *, model: str | None = None, version: str | None = None, metric: str | None = None,
    since: float | None = None, limit: int = 10_000,
) -> tuple[str, dict[str, Any]]:
    """Rows of ``metric_windows``: one value per window, model version and metric."""
    return table_query(
        db, "metric_windows",
        "window_start, window_end, model, model_version, metric, segment, value, count, low, high",
        filters={"model": ("model", "String", model), "version": ("model_version", "String", version),
                 "metric": ("metric", "String", metric)},
        since=since, order="window_start, model, model_version, metric", limit=limit,
    )


def drift_query(
    db: str, *, model: str | None = None, version: str | None = None, feature: str | None = None,
    since: float | None = None, limit: int = 10_000,
) -> tuple[str, dict[str, Any]]:
    """Rows of ``drift_windows``: PSI, KL and JS per window, model version and feature."""
    return table_query(
        db, "drift_windows",
        "window_start, window_end, model, model_version, feature, psi, kl, js, n_current, n_reference, severity",
        filters={"model": ("model", "String", model), "version": ("model_version", "String", version),
                 "feature": ("feature", "String", feature)},
        since=since, order="window_start, model, model_version, feature", limit=limit,
    )


def detections_query(
    db: str, *, model: str | None = None, version: str | None = None, stream: str | None = None,
    since: float | None = None, limit: int = 10_000,
) -> tuple[str, dict[str, Any]]:
    """Rows of ``detector_events``: concept-drift detections with the means around them."""
    sql, params = table_query(
        db, "detector_events",
        "event_time, model, model_version, stream, detector, src_partition, position, mean_before, mean_after",
        filters={"model": ("model", "String", model), "version": ("model_version", "String", version),
                 "stream": ("stream", "String", stream)},
        since=since, order="event_time, model, model_version, stream, detector", limit=limit,
    )
    return sql.replace("window_start >= {since", "event_time >= {since"), params


def alerts_query(
    db: str, *, model: str | None = None, version: str | None = None, status: str | None = None,
    since: float | None = None, limit: int = 10_000,
) -> tuple[str, dict[str, Any]]:
    """Rows of ``alerts``: each incident's firing and resolved notifications."""
    sql, params = table_query(
        db, "alerts",
        "created_at, status, severity, model, model_version, recommended_action, starts_at, ends_at, summary",
        filters={"model": ("model", "String", model), "version": ("model_version", "String", version),
                 "status": ("status", "String", status)},
        since=since, order="created_at", limit=limit,
    )
    return sql.replace("window_start >= {since", "created_at >= {since"), params


def comparisons_query(
    db: str, *, model: str | None = None, version: str | None = None, metric: str | None = None,
    since: float | None = None, limit: int = 10_000,
) -> tuple[str, dict[str, Any]]:
    """Rows of ``metric_comparisons``: each version's rates against the previous version or baseline."""
    return table_query(
        db, "metric_comparisons",
        "window_start, model, model_version, metric, reference, value, reference_value, difference, diff_low, "
        "diff_high, p_value, count, reference_count",
        filters={"model": ("model", "String", model), "version": ("model_version", "String", version),
                 "metric": ("metric", "String", metric)},
        since=since, order="window_start, model, model_version, metric, reference", limit=limit,
    )


QUERY_KINDS = ("metrics", "drift", "detections", "alerts", "compare")
