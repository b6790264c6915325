"""``monitor query ...`` and ``monitor alerts``: trend queries over the store and the alert history."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import typer

from monitor.contract.timestamps import utc_text
from monitor.settings import Settings
from monitor.tools.cli_options import (
    ConfigOption,
    FormatOption,
    LimitOption,
    ModelOption,
    SinceOption,
    StatusOption,
    UntilOption,
    VersionOption,
    cli_settings,
    time_window,
)
from monitor.tools.cli_support import Format, counted, print_rows, require_known

__all__ = ["alerts_app", "quantiles_for_people", "query_app", "run_query"]

query_app = typer.Typer(
    help="Trend queries over the store; each prints the SQL it ran (to stderr).",
    no_args_is_help=True,
)


TableRows = Callable[[Sequence[str], Sequence[Sequence[Any]]], list[tuple[Any, ...]]]


def quantiles_for_people(
    columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[tuple[Any, ...]]:
    """Rows of metric_windows with each quantile's value as text, with the digits its sketch
    supports (:func:`~monitor.outcomes.sketch.quantile_text`); other values stay as stored.

    >>> quantiles_for_people(["metric", "value"], [("latency_p50_ms", 119.70464), ("rating", 4.25)])
    [('latency_p50_ms', '120'), ('rating', 4.25)]
    >>> quantiles_for_people(["metric", "value"], [])
    []
    """
    from monitor.catalogue import QUANTILE_METRICS
    from monitor.outcomes.sketch import quantile_text

    if not rows or not {"metric", "value"} <= set(columns):
        return [tuple(row) for row in rows]
    metric, value = columns.index("metric"), columns.index("value")
    out = []
    for row in rows:
        cells = list(row)
        if cells[metric] in QUANTILE_METRICS and isinstance(cells[value], float):
            cells[value] = quantile_text(cells[value])
        out.append(tuple(cells))
    return out


def run_query(
    settings: Settings,
    build,
    fmt: Format,
    *,
    title: str | None = None,
    table_rows: TableRows | None = None,
    **kwargs: Any,
) -> Any:
    """Run one trend query, print the SQL it ran to stderr and its rows; returns the reader.

    A table shows ``table_rows(columns, rows)`` where given (numbers as people read them, right
    aligned); JSON and CSV print the rows as stored."""
    from monitor.adapters.client_security import clickhouse_client_options
    from monitor.adapters.reader import open_reader
    from monitor.queries import render_sql
    from monitor.tools.cli_known import check_store_filters

    reader = open_reader(
        settings.clickhouse_url, clickhouse_client_options(settings), token=settings.web_token_value
    )
    check_store_filters(
        reader, **{k: kwargs.get(k) for k in ("model", "version", "segment", "feature")}
    )
    sql, params = build(reader.db, **kwargs)
    typer.echo(f"-- {render_sql(sql, params)}", err=True)
    result = reader.query(sql, params)
    if fmt is Format.table and table_rows is not None:
        numbers = [  # still right-aligned once shown as text
            c
            for i, c in enumerate(result.columns)
            if result.rows and all(isinstance(r[i], (int, float)) for r in result.rows)
        ]
        shown = table_rows(result.columns, result.rows)
        print_rows(result.columns, shown, fmt, title=title, numeric=numbers)
    else:
        print_rows(result.columns, result.rows, fmt, title=title)
    return reader


@query_app.command("metrics")
def query_metrics(
    model: str | None = ModelOption,
    version: str | None = VersionOption,
    metric: str | None = typer.Option(
        None, help="one metric, e.g. satisfaction, latency_p95_ms, inference_events"
    ),
    segment: str | None = typer.Option(
        None, help="one segment, e.g. region=eu ('' is all traffic)"
    ),
    since: str | None = SinceOption,
    until: str | None = UntilOption,
    limit: int = LimitOption,
    fmt: Format = FormatOption,
    config: Path | None = ConfigOption,
) -> None:
    """Rows of metric_windows (counts, rates with 95% intervals, means, quantiles per window and version)."""
    from monitor.queries import metrics_query
    from monitor.tools.cli_known import window_metric_names

    require_known("--metric", metric, window_metric_names(), "metric")
    run_query(
        cli_settings(config),
        metrics_query,
        fmt,
        model=model,
        version=version,
        metric=metric,
        segment=segment,
        limit=limit,
        table_rows=quantiles_for_people,
        **time_window(since, until),
    )


@query_app.command("drift")
def query_drift(
    model: str | None = ModelOption,
    version: str | None = VersionOption,
    feature: str | None = typer.Option(None, help="one feature (must have been scored)"),
    since: str | None = SinceOption,
    until: str | None = UntilOption,
    limit: int = LimitOption,
    fmt: Format = FormatOption,
    config: Path | None = ConfigOption,
) -> None:
    """Rows of drift_windows (PSI, KL, JS, severity per window, version, feature), then the windows counted but not scored and why."""
    from monitor.queries import drift_query
    from monitor.tools.cli_known import unscored_report

    settings = cli_settings(config)
    times = time_window(since, until)
    reader = run_query(
        settings,
        drift_query,
        fmt,
        model=model,
        version=version,
        feature=feature,
        limit=limit,
        **times,
    )
    unscored = unscored_report(
        reader,
        model=model,
        version=version,
        allowed_lateness=settings.allowed_lateness_seconds,
        min_samples=settings.drift_min_samples,
        **times,
    )
    if not unscored:
        return
    columns = ["window_start", "model", "model_version", "events", "not scored because"]
    rows = [
        (
            utc_text(u.window_start),
            u.model,
            u.model_version,
            int(u.events),
            u.reason,
        )
        for u in unscored
    ]
    if fmt is Format.table:
        typer.echo("")
        print_rows(columns, rows, fmt, title="windows counted but not scored")
    else:  # keep stdout machine-readable
        for row in rows:
            typer.echo(
                f"not scored: {row[0]} {row[1]}/{row[2]} ({counted(row[3], 'event')}): {row[4]}",
                err=True,
            )


@query_app.command("detections")
def query_detections(
    model: str | None = ModelOption,
    version: str | None = VersionOption,
    stream: str | None = typer.Option(
        None, help="one detector stream; an unknown one lists the known streams"
    ),
    detector: str | None = typer.Option(
        None, help="one detector; an unknown one lists the known detectors"
    ),
    since: str | None = SinceOption,
    until: str | None = UntilOption,
    limit: int = LimitOption,
    fmt: Format = FormatOption,
    config: Path | None = ConfigOption,
) -> None:
    """Rows of detector_events (concept-drift detections from river detectors)."""
    from monitor.queries import detections_query
    from monitor.tools.cli_known import detector_names, detector_stream_names

    require_known("--stream", stream, detector_stream_names(), "detector stream")
    require_known("--detector", detector, detector_names(), "detector")
    run_query(
        cli_settings(config),
        detections_query,
        fmt,
        model=model,
        version=version,
        stream=stream,
        detector=detector,
        limit=limit,
        **time_window(since, until),
    )


@query_app.command("compare")
def query_compare(
    model: str | None = ModelOption,
    version: str | None = VersionOption,
    metric: str | None = typer.Option(
        None,
        help="a proportion: satisfaction, task_completion, human_takeover, bad_case or accuracy",
    ),
    since: str | None = SinceOption,
    until: str | None = UntilOption,
    limit: int = LimitOption,
    fmt: Format = FormatOption,
    config: Path | None = ConfigOption,
) -> None:
    """Rows of metric_comparisons (each version against the previous version and its baseline)."""
    from monitor.queries import comparisons_query
    from monitor.tools.cli_known import comparison_metric_names

    require_known("--metric", metric, comparison_metric_names(), "compared metric")
    run_query(
        cli_settings(config),
        comparisons_query,
        fmt,
        model=model,
        version=version,
        metric=metric,
        limit=limit,
        **time_window(since, until),
    )


def _alerts(
    model: str | None,
    version: str | None,
    status: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    fmt: Format,
    config: Path | None,
) -> None:
    from monitor.tools.cli_alerts import list_alerts
    from monitor.tools.cli_known import ALERT_STATUSES

    require_known("--status", status, ALERT_STATUSES, "alert status")
    list_alerts(
        cli_settings(config),
        fmt,
        model=model,
        version=version,
        status=status,
        limit=limit,
        **time_window(since, until),
    )


@query_app.command("alerts")
def query_alerts(
    model: str | None = ModelOption,
    version: str | None = VersionOption,
    status: str | None = StatusOption,
    since: str | None = SinceOption,
    until: str | None = UntilOption,
    limit: int = LimitOption,
    fmt: Format = FormatOption,
    config: Path | None = ConfigOption,
) -> None:
    """Alerts (firing and resolved) with their description, evidence, recommended action and runbook."""
    _alerts(model, version, status, since, until, limit, fmt, config)


alerts_app = typer.Typer(
    help="Alert history: each alert with its description, evidence and runbook.",
    invoke_without_command=True,
)


@alerts_app.callback()
def alerts_command(
    ctx: typer.Context,
    model: str | None = ModelOption,
    version: str | None = VersionOption,
    status: str | None = StatusOption,
    since: str | None = SinceOption,
    until: str | None = UntilOption,
    limit: int = LimitOption,
    fmt: Format = FormatOption,
    config: Path | None = ConfigOption,
) -> None:
    """Alert history (same as `monitor query alerts`); `monitor alerts show ID` prints one alert."""
    if ctx.invoked_subcommand is None:
        _alerts(model, version, status, since, until, limit, fmt, config)


@alerts_app.command("show")
def alerts_show(
    alert_id: str = typer.Argument(
        ..., help="the id `monitor alerts` prints (a prefix of the fingerprint)"
    ),
    fmt: Format = FormatOption,
    config: Path | None = ConfigOption,
) -> None:
    """One alert: every notification of it (firing, resolved) in full."""
    from monitor.tools.cli_alerts import show_alert

    show_alert(cli_settings(config), alert_id, fmt)
