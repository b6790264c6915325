"""Trend queries for analysts: SQL with bound parameters, and the same SQL rendered to paste.

>>> sql, params = metrics_query("monitor", model="m'1", since=0.0)
>>> "{model:String}" in sql, render_sql(sql, params).count("'m\\\\'1'")
(True, 1)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from monitor.catalogue import METRIC_WINDOW_NAMES, STREAM_BETTER
from monitor.contract.timestamps import utc_datetime
from monitor.experiments.report import RESULT_COLUMNS

__all__ = [
    "ALERT_ID",
    "ALERT_RESOLUTION",
    "QUERY_KINDS",
    "alerts_query",
    "baseline_body_query",
    "comparisons_query",
    "detections_query",
    "dimensions_query",
    "drift_query",
    "experiments_query",
    "freshness_query",
    "histogram_query",
    "metrics_query",
    "render_sql",
    "shadow_query",
    "sql_literal",
    "table_query",
]

_PLACEHOLDER = re.compile(r"\{(\w+):([^}]+)\}")


def _quote(value: Any, type_name: str) -> str:
    if isinstance(value, (list, tuple)):
        inner = re.sub(r"^Array\((.*)\)$", r"\1", type_name)
        return "[" + ", ".join(_quote(v, inner) for v in value) + "]"
    if type_name.startswith("DateTime"):
        if isinstance(value, (int, float)):
            value = utc_datetime(value)
        elif value.tzinfo is not None:
            value = value.astimezone(UTC)
        return f"toDateTime64('{value.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}', 3, 'UTC')"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    return sql_literal(str(value))


def sql_literal(value: str) -> str:
    """A ClickHouse string literal: backslashes and single quotes escaped.

    >>> print(sql_literal("it's"))
    'it\\'s'
    """
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render_sql(sql: str, parameters: dict[str, Any]) -> str:
    """Substitute each ``{name:Type}`` with a safely quoted literal, for display and pasting."""
    return _PLACEHOLDER.sub(lambda m: _quote(parameters[m.group(1)], m.group(2)), sql)


def _filters(
    filters: dict[str, tuple[str, str, Any]],
    since: float | None,
    time_column: str = "window_start",
    until: float | None = None,
) -> tuple[str, dict[str, Any]]:
    clauses, params = [], {}
    for name, (column, type_name, value) in filters.items():
        if value is not None:
            # "column[]": an Array column that must contain the value; "column IN": one of them
            if column.endswith("[]"):
                clauses.append(f"has({column[:-2]}, {{{name}:{type_name}}})")
            elif column.endswith(" IN"):
                clauses.append(f"has({{{name}:{type_name}}}, {column[:-3]})")
            else:
                clauses.append(f"{column} = {{{name}:{type_name}}}")
            params[name] = value
    if since is not None:
        clauses.append(f"{time_column} >= {{since:DateTime64(3)}}")
        params["since"] = utc_datetime(since)
    if until is not None:
        clauses.append(f"{time_column} < {{until:DateTime64(3)}}")
        params["until"] = utc_datetime(until)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def table_query(
    db: str,
    table: str,
    columns: str,
    *,
    filters: dict[str, tuple[str, str, Any]],
    since: float | None,
    order: str,
    limit: int = 10_000,
    final: bool = True,
    time_column: str = "window_start",
    until: float | None = None,
) -> tuple[str, dict[str, Any]]:
    where, params = _filters(filters, since, time_column, until)
    sql = f"SELECT {columns} FROM {db}.{table}{' FINAL' if final else ''}{where} ORDER BY {order} LIMIT {int(limit)}"
    return sql, params


# One incident's notifications (firing, then resolved) share fingerprint and start: its id.
ALERT_ID = "lower(substring(hex(SHA256(concat(fingerprint, toString(toUnixTimestamp64Milli(starts_at))))), 1, 10))"
# Alert.resolution in SQL: NULL while firing, 'superseded' when the evidence names the alert that
# took the incident over (monitor.alerts.state.SUPERSEDED_BY; importing it here would be a cycle),
# else 'cleared'. tests/monitor/tools/test_cli_alerts.py holds the two to the same answers.
ALERT_RESOLUTION = (
    "multiIf(status != 'resolved', NULL, "
    "JSONExtractString(evidence, 'superseded_by', 'rule') != '', 'superseded', 'cleared')"
)


@dataclass(frozen=True)
class TrendQuery:
    """One table an analyst asks about: its columns, the filters it takes besides model and version."""

    table: str
    columns: str
    extra_filter: str  # option name and column: metric, feature, stream, status
    order: str
    time_column: str = "window_start"
    more_filters: tuple[str, ...] = ()  # further option names that are also column names
    # Without the extra filter, only these values of its column (none: every value)
    listed: tuple[str, ...] = ()

    def __call__(
        self,
        db: str,
        *,
        model: str | None = None,
        version: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 10_000,
        **extra: str | None,
    ) -> tuple[str, dict[str, Any]]:
        allowed = (self.extra_filter, *self.more_filters)
        unknown = set(extra) - set(allowed)
        if unknown:
            raise ValueError(
                f"{self.table} queries take {', '.join(allowed)}, not {', '.join(sorted(unknown))}"
            )
        filters: dict[str, tuple[str, str, Any]] = {
            "model": ("model", "String", model),
            "version": ("model_version", "String", version),
        }
        filters |= {name: (name, "String", extra.get(name)) for name in allowed}
        if self.listed and extra.get(self.extra_filter) is None:
            filters["listed"] = (f"{self.extra_filter} IN", "Array(String)", list(self.listed))
        return table_query(
            db,
            self.table,
            self.columns,
            filters=filters,
            since=since,
            until=until,
            order=self.order,
            limit=limit,
            time_column=self.time_column,
        )


metrics_query = TrendQuery(
    "metric_windows",
    "window_start, window_end, model, model_version, metric, segment, value, count, low, high",
    "metric",
    "window_start, model, model_version, metric",
    more_filters=("segment",),
    listed=METRIC_WINDOW_NAMES,  # not the worker's internal rows (emb:phi, ...)
)
drift_query = TrendQuery(
    "drift_windows",
    "window_start, window_end, model, model_version, feature, psi, kl, js, n_current, n_events, partial, "
    "n_reference, severity, baseline_id, detail",
    "feature",
    "window_start, model, model_version, feature",
)


def change_sql() -> str:
    """A detection's ``change``, 'worse' or 'better', in SQL, as
    :func:`monitor.detectors.values.worsened` says (only 'worse' pages; an unknown side is 'worse').

    >>> print(change_sql())
    multiIf(stream IN ('error', 'latency_ms') AND mean_after <= mean_before, 'better', stream IN ('satisfaction', 'judge_score') AND mean_after >= mean_before, 'better', 'worse') AS change
    """

    def streams(better: str) -> str:
        return ", ".join(sql_literal(s) for s, b in STREAM_BETTER.items() if b == better)

    return (
        f"multiIf(stream IN ({streams('lower')}) AND mean_after <= mean_before, 'better', "
        f"stream IN ({streams('higher')}) AND mean_after >= mean_before, 'better', 'worse') AS change"
    )


detections_query = TrendQuery(
    "detector_events",
    "event_time, model, model_version, stream, detector, position, mean_before, mean_after, "
    f"n_before, n_after, {change_sql()}",
    "stream",
    "event_time, model, model_version, stream, detector",
    time_column="event_time",
    more_filters=("detector",),
)
alerts_query = TrendQuery(
    "alerts",
    f"{ALERT_ID} AS id, created_at, status, {ALERT_RESOLUTION} AS resolution, severity, rule, model, "
    "model_version, recommended_action, starts_at, ends_at, summary, description, evidence, runbook_url",
    "status",
    "created_at",
    time_column="created_at",
    more_filters=("resolution",),
)
comparisons_query = TrendQuery(
    "metric_comparisons",
    "window_start, model, model_version, metric, reference, value, reference_value, difference, diff_low, "
    "diff_high, p_value, count, reference_count",
    "metric",
    "window_start, model, model_version, metric, reference",
)

QUERY_KINDS = {
    "metrics": metrics_query,
    "drift": drift_query,
    "detections": detections_query,
    "alerts": alerts_query,
    "compare": comparisons_query,
}


def histogram_query(
    db: str,
    *,
    model: str,
    version: str,
    feature: str,
    start: float,
    end: float,
) -> tuple[str, dict[str, Any]]:
    """Current counts of one feature's bins over ``[start, end)``: rows ``(baseline_id:index, count)``."""
    from monitor.drift.windows import HIST_PREFIX

    sql = (
        f"SELECT bucket, sum(count) AS count FROM {db}.partials WHERE model = {{model:String}} "
        "AND model_version = {version:String} AND name = {name:String} "
        "AND window_start >= {since:DateTime64(3)} AND window_start < {until:DateTime64(3)} "
        "GROUP BY bucket ORDER BY bucket"
    )
    return sql, {
        "model": model,
        "version": version,
        "name": HIST_PREFIX + feature,
        "since": utc_datetime(start),
        "until": utc_datetime(end),
    }


def baseline_body_query(db: str, *, baseline_id: str) -> tuple[str, dict[str, Any]]:
    """The stored body (JSON) of one baseline: its bins and reference counts."""
    return (
        f"SELECT body FROM {db}.baselines FINAL WHERE baseline_id = {{baseline_id:String}} LIMIT 1",
        {"baseline_id": baseline_id},
    )


def dimensions_query(db: str) -> tuple[str, dict[str, Any]]:
    """Every (model, version, segment) the metric windows of the catalogue's metrics hold: the
    choices of a filter (an internal row's bucket, such as a baseline id, is no segment)."""
    sql = (
        f"SELECT DISTINCT model, model_version, segment FROM {db}.metric_windows "
        "WHERE has({metrics:Array(String)}, metric) ORDER BY model, model_version, segment"
    )
    return sql + " LIMIT 1000", {"metrics": list(METRIC_WINDOW_NAMES)}


def freshness_query(db: str) -> tuple[str, dict[str, Any]]:
    """A value that changes whenever windows, drift rows or alerts are written (for live refresh)."""
    sql = (
        f"SELECT (SELECT toString(max(updated_at)) FROM {db}.metric_windows), "
        f"(SELECT count() FROM {db}.drift_windows), (SELECT count() FROM {db}.alerts)"
    )
    return sql, {}


EXPERIMENT_COLUMNS = ", ".join(RESULT_COLUMNS)


def experiments_query(
    db: str,
    *,
    experiment: str | None = None,
    model: str | None = None,
    version: str | None = None,
    segment: str = "",
    since: float | None = None,
    history: bool = False,
    limit: int = 10_000,
) -> tuple[str, dict[str, Any]]:
    """Experiment reports of ``experiment_results`` (summary rows have metric ``''``); with ``history``,
    every report the leader wrote and the table has not merged away yet, oldest first. ``model`` and
    ``version`` keep the experiments whose requests ran on them.

    >>> sql, params = experiments_query("monitor", model="m", version="v2")
    >>> "has(models, {model:String}) AND has(model_versions, {version:String})" in sql
    True
    """
    filters = {
        "experiment": ("experiment", "String", experiment),
        "model": ("models[]", "String", model),
        "version": ("model_versions[]", "String", version),
        "segment": ("segment", "String", segment),
    }
    return table_query(
        db,
        "experiment_results",
        EXPERIMENT_COLUMNS,
        filters=filters,
        since=since,
        order="experiment, metric, updated_at",
        limit=limit,
        final=not history,
        time_column="updated_at",
    )


SHADOW_COLUMNS = (
    "model, production_version, shadow_version, metric, n, value, diff, ci_low, ci_high, margin, status, "
    "pairs, shadow_events, shadow_error_rate, verdict, reason, updated_at"
)


def shadow_query(
    db: str, *, model: str | None = None, since: float | None = None, limit: int = 10_000
) -> tuple[str, dict[str, Any]]:
    """The latest shadow comparison per model, version pair and metric (``shadow_results``)."""
    return table_query(
        db,
        "shadow_results",
        SHADOW_COLUMNS,
        filters={"model": ("model", "String", model)},
        since=since,
        order="model, production_version, shadow_version, metric",
        limit=limit,
        time_column="updated_at",
    )
