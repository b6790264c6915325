"""The ``monitor`` command line: worker, demo, broker, replay, query, bench."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
import time
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from monitor.errors import MonitorError
from monitor.settings import Settings, load_settings, parse_duration

__all__ = ["app", "main"]

app = typer.Typer(help="Streaming drift and online-metrics monitor for production LLM and ML models.",
                  no_args_is_help=True, add_completion=False)
query_app = typer.Typer(help="Trend queries over the store; each prints the SQL it ran.", no_args_is_help=True)
app.add_typer(query_app, name="query")

ConfigOption = typer.Option(None, "--config", "-c", help="TOML or YAML settings file (keys without MONITOR_)")


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def _settings(config: Path | None, **overrides: Any) -> Settings:
    return load_settings(config, **{k: v for k, v in overrides.items() if v is not None})


@app.command()
def worker(config: Path | None = ConfigOption, loglevel: str = typer.Option("info", help="crit|error|warn|info|debug")) -> None:
    """Run a monitor worker (Faust) on MONITOR_KAFKA_BOOTSTRAP."""
    from monitor.worker import run_worker

    run_worker(_settings(config), loglevel=loglevel)


@app.command()
def broker(
    port: int = typer.Option(9092, help="loopback port to listen on"),
    storage: str = typer.Option("memory://tansu/", help="memory://tansu/ or postgres://user@host/db"),
) -> None:
    """Run only the local Kafka-compatible broker (Tansu) until Ctrl-C."""
    import signal
    import threading

    from monitor.adapters.local_broker import LocalBroker

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with LocalBroker(port=port, storage=storage) as local:
        typer.echo(f"broker listening on {local.bootstrap} (storage {storage}); Ctrl-C stops it")
        typer.echo(f"  export MONITOR_KAFKA_BOOTSTRAP={local.bootstrap}")
        sys.stdout.flush()
        stop.wait()
        typer.echo("stopping broker")
        sys.stdout.flush()


@app.command()
def replay(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL file, one event per line"),
    kind: str = typer.Option(..., help="inference or feedback"),
    rate: float = typer.Option(0.0, help="events per second; 0 = as fast as possible"),
    batch_size: int = typer.Option(100, help="events per Kafka message"),
    config: Path | None = ConfigOption,
) -> None:
    """Publish a JSONL file of events to the inference or feedback topic."""
    from monitor.replay import replay_file

    settings = _settings(config)
    if kind not in ("inference", "feedback"):
        raise typer.BadParameter(f"{kind!r} is not one of inference, feedback", param_hint="--kind")
    if not settings.kafka_bootstrap:
        raise typer.BadParameter("set MONITOR_KAFKA_BOOTSTRAP (e.g. 127.0.0.1:9092, see `monitor broker`)")
    report = asyncio.run(replay_file(settings, file, kind, rate=rate, batch_size=batch_size))
    typer.echo(f"sent {report.sent} events in {report.messages} messages; {len(report.rejected)} rejected")
    for rejection in report.rejected[:20]:
        typer.echo(f"  line {rejection.index + 1}: {rejection.reason}: {rejection.message}", err=True)


def _since(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return time.time() - parse_duration(value)
    except MonitorError:
        parsed = datetime.fromisoformat(value)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def print_rows(columns: list[str], rows: list[tuple], fmt: Format) -> None:
    def cell(v: Any) -> Any:
        if isinstance(v, datetime):
            return v.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(v, float):
            return round(v, 6)
        return v

    data = [[cell(v) for v in row] for row in rows]
    if fmt is Format.json:
        typer.echo(json.dumps([dict(zip(columns, r)) for r in data], default=str, indent=1))
    elif fmt is Format.csv:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows(data)
        typer.echo(out.getvalue().rstrip("\n"))
    else:
        widths = [max(len(str(c)), *(len(str(r[i])) for r in data)) if data else len(c) for i, c in enumerate(columns)]
        typer.echo("  ".join(str(c).ljust(w) for c, w in zip(columns, widths)))
        for r in data:
            typer.echo("  ".join(str(v).ljust(w) for v, w in zip(r, widths)))
        typer.echo(f"({len(data)} rows)")


def run_query(settings: Settings, build, fmt: Format, **kwargs: Any) -> None:
    from monitor.adapters.client_security import clickhouse_client_options
    from monitor.adapters.reader import open_reader
    from monitor.queries import render_sql

    reader = open_reader(settings.clickhouse_url, clickhouse_client_options(settings))
    sql, params = build(reader.db, **kwargs)
    typer.echo(f"-- {render_sql(sql, params)}", err=True)
    result = reader.query(sql, params)
    print_rows(result.columns, result.rows, fmt)


SinceOption = typer.Option(None, "--since", help="a duration back from now (90m, 2h, 7d) or an ISO time")
FormatOption = typer.Option(Format.table, "--format", "-f")


@query_app.command("metrics")
def query_metrics(
    model: str | None = typer.Option(None), version: str | None = typer.Option(None),
    metric: str | None = typer.Option(None), since: str | None = SinceOption,
    fmt: Format = FormatOption, config: Path | None = ConfigOption,
) -> None:
    """Rows of metric_windows (counts, rates, means per window and model version)."""
    from monitor.queries import metrics_query

    run_query(_settings(config), metrics_query, fmt, model=model, version=version, metric=metric,
              since=_since(since))


@query_app.command("drift")
def query_drift(
    model: str | None = typer.Option(None), version: str | None = typer.Option(None),
    feature: str | None = typer.Option(None), since: str | None = SinceOption,
    fmt: Format = FormatOption, config: Path | None = ConfigOption,
) -> None:
    """Rows of drift_windows (PSI, KL, JS and severity per window, version and feature)."""
    from monitor.queries import drift_query

    run_query(_settings(config), drift_query, fmt, model=model, version=version, feature=feature,
              since=_since(since))


@query_app.command("detections")
def query_detections(
    model: str | None = typer.Option(None), version: str | None = typer.Option(None),
    stream: str | None = typer.Option(None, help="error, satisfaction, judge_score or latency_ms"),
    since: str | None = SinceOption, fmt: Format = FormatOption, config: Path | None = ConfigOption,
) -> None:
    """Rows of detector_events (concept-drift detections from river detectors)."""
    from monitor.queries import detections_query

    run_query(_settings(config), detections_query, fmt, model=model, version=version, stream=stream,
              since=_since(since))


@query_app.command("compare")
def query_compare(
    model: str | None = typer.Option(None), version: str | None = typer.Option(None),
    metric: str | None = typer.Option(None), since: str | None = SinceOption,
    fmt: Format = FormatOption, config: Path | None = ConfigOption,
) -> None:
    """Rows of metric_comparisons (each version against the previous version and its baseline)."""
    from monitor.queries import comparisons_query

    run_query(_settings(config), comparisons_query, fmt, model=model, version=version, metric=metric,
              since=_since(since))


def _alerts(model: str | None, version: str | None, status: str | None, since: str | None,
            fmt: Format, config: Path | None) -> None:
    from monitor.queries import alerts_query

    run_query(_settings(config), alerts_query, fmt, model=model, version=version, status=status,
              since=_since(since))


@query_app.command("alerts")
def query_alerts(
    model: str | None = typer.Option(None), version: str | None = typer.Option(None),
    status: str | None = typer.Option(None, help="firing or resolved"), since: str | None = SinceOption,
    fmt: Format = FormatOption, config: Path | None = ConfigOption,
) -> None:
    """Rows of alerts (firing and resolved notifications with their recommended action)."""
    _alerts(model, version, status, since, fmt, config)


@app.command("alerts")
def alerts_command(
    model: str | None = typer.Option(None), version: str | None = typer.Option(None),
    status: str | None = typer.Option(None, help="firing or resolved"), since: str | None = SinceOption,
    fmt: Format = FormatOption, config: Path | None = ConfigOption,
) -> None:
    """Alert history (same as `monitor query alerts`)."""
    _alerts(model, version, status, since, fmt, config)


rules_app = typer.Typer(help="Alert rules files.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("check")
def rules_check(file: Path = typer.Argument(..., help="YAML rules file")) -> None:
    """Validate a rules file; every problem is listed with the rule, key and allowed values."""
    from monitor.alerts.rules import load_rules

    if not file.exists():
        raise MonitorError(f"{file} does not exist")
    rules = load_rules(file)
    typer.echo(f"{file}: {len(rules)} rules OK")
    for rule in rules:
        typer.echo(f"  {rule.name:<40} {rule.signal:<12} {rule.severity:<8} "
                   f"{rule.metric or '-'} {rule.condition or ''} {'' if rule.threshold is None else rule.threshold}")


@rules_app.command("show-defaults")
def rules_defaults() -> None:
    """Print the rules file shipped with the monitor (a starting point for your own)."""
    from monitor.alerts.rules import DEFAULT_RULES_PATH

    typer.echo(DEFAULT_RULES_PATH.read_text())


baseline_app = typer.Typer(help="Reference profiles that input drift is scored against.", no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")


def _drift_store(config: Path | None):
    from monitor.adapters.client_security import clickhouse_client_options
    from monitor.adapters.drift_store import DriftStore
    from monitor.adapters.reader import open_store

    settings = _settings(config)
    return DriftStore(open_store(settings.clickhouse_url, clickhouse_client_options(settings)))


@baseline_app.command("build")
def baseline_build(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL, CSV or Parquet records"),
    model: str = typer.Option(...), version: str = typer.Option(...),
    bins: int | None = typer.Option(None, help="numeric bins (default MONITOR_DRIFT_BINS, 10)"),
    top_k: int | None = typer.Option(None, help="categories kept (default MONITOR_DRIFT_TOP_K, 20)"),
    baseline_id: str | None = typer.Option(None, "--id", help="id to store it under (default: generated)"),
    config: Path | None = ConfigOption,
) -> None:
    """Build a baseline from a file of inference-shaped records and make it the active one."""
    from monitor.baseline import build_baseline
    from monitor.records import load_records

    settings = _settings(config)
    baseline = build_baseline(model, version, load_records(file), n_bins=bins or settings.drift_bins,
                              top_k=top_k or settings.drift_top_k, now=time.time(), source=str(file))
    stored = _drift_store(config).save_baseline(baseline, baseline_id)
    typer.echo(f"baseline {stored}: {model}/{version}, {baseline.n} records, {len(baseline.features)} features"
               + (f", accuracy {baseline.accuracy:.3f}" if baseline.accuracy is not None else ""))


@baseline_app.command("list")
def baseline_list(model: str | None = typer.Option(None), version: str | None = typer.Option(None),
                  fmt: Format = FormatOption, config: Path | None = ConfigOption) -> None:
    """Every baseline, deleted ones included (their history stays scored against them)."""
    rows = _drift_store(config).list_baselines(model, version)
    columns = ["baseline_id", "model", "model_version", "created_at", "source", "n", "deleted"]
    print_rows(columns, [tuple(r[c] for c in columns) for r in rows], fmt)


@baseline_app.command("show")
def baseline_show(baseline_id: str = typer.Argument(...), config: Path | None = ConfigOption) -> None:
    """Print one baseline as JSON."""
    found = _drift_store(config).load_baselines([baseline_id])
    if not found:
        raise MonitorError(f"no baseline {baseline_id!r}; see `monitor baseline list`")
    typer.echo(found[baseline_id].to_json())


@baseline_app.command("delete")
def baseline_delete(model: str = typer.Option(...), version: str = typer.Option(...),
                    baseline_id: str | None = typer.Option(None, "--id"),
                    config: Path | None = ConfigOption) -> None:
    """Retire the baselines of a version (or one of them); windows already scored keep their scores."""
    n = _drift_store(config).delete_baseline(model, version, baseline_id)
    typer.echo(f"{n} baseline(s) deleted for {model}/{version}")


@app.command()
def demo(
    duration: float = typer.Option(0, help="seconds to run; 0 runs until Ctrl-C"),
    rate: float = typer.Option(200.0, help="inference events per second"),
    window: str = typer.Option("10s", help="window length for the demo"),
    drift_at: float = typer.Option(0.5, help="share of the duration after which drift is injected"),
    data_dir: Path = typer.Option(Path(".monitor-data/demo"), help="where the demo keeps its store"),
) -> None:
    """Broker, worker and a simulated LLM assistant's traffic, with drift injected midway."""
    from monitor.demo import run_demo

    sys.exit(run_demo(duration=duration, rate=rate, window=window, drift_at=drift_at, data_dir=data_dir))


@app.command()
def bench(
    events: int = typer.Option(200_000, help="events to produce for each case"),
    batch: int = typer.Option(100, help="events per message in the batched case"),
    output: Path | None = typer.Option(None, help="also write the results as JSON here"),
    case: str = typer.Option("standard", help="standard (10 numeric + 3 categorical), drift (20 + 5) or all"),
    partitions: int = typer.Option(2, help="partitions of the bench topics"),
) -> None:
    """Measure the worker against a bare Faust agent and a bare aiokafka consumer."""
    from monitor.bench import run_bench

    sys.exit(run_bench(events=events, batch=batch, output=output, case=case, partitions=partitions))


def main() -> None:
    try:
        app()
    except MonitorError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
