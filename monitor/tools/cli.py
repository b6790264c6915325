"""The ``monitor`` command line: worker, demo, broker, replay, query, bench, fuzz."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

import typer

from monitor.errors import MonitorError
from monitor.settings import Settings, load_settings
from monitor.tools.cli_support import (
    EXIT_USAGE,
    Format,
    MonitorGroup,
    parse_time,
    print_rows,
    require_known,
)

__all__ = ["app", "main"]

app = typer.Typer(
    help="Streaming drift and online-metrics monitor for production LLM and ML models.",
    no_args_is_help=True,
    add_completion=False,
    cls=MonitorGroup,
)
query_app = typer.Typer(
    help="Trend queries over the store; each prints the SQL it ran (to stderr).",
    no_args_is_help=True,
)
app.add_typer(query_app, name="query")

ConfigOption = typer.Option(
    None, "--config", "-c", help="TOML or YAML settings file (keys without MONITOR_)"
)


def _settings(config: Path | None, **overrides: Any) -> Settings:
    return load_settings(config, **{k: v for k, v in overrides.items() if v is not None})


@app.command()
def worker(
    config: Path | None = ConfigOption,
    loglevel: str = typer.Option("info", help="crit|error|warn|info|debug"),
) -> None:
    """Run a monitor worker (Faust) on MONITOR_KAFKA_BOOTSTRAP."""
    from monitor.tools.worker import run_worker

    run_worker(_settings(config), loglevel=loglevel)


@app.command()
def judge(
    config: Path | None = ConfigOption,
    report: Annotated[
        Path | None,
        typer.Option(help="write the judge's quality report (JSON) here after each batch"),
    ] = None,
    loglevel: str = typer.Option("info", help="critical|error|warning|info|debug"),
) -> None:
    """Run the LLM judge (docs/judge.md): grade sampled answers, compare shadows, publish feedback."""
    import logging

    from monitor.tools.judge import run_judge

    logging.basicConfig(
        level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sys.exit(asyncio.run(run_judge(_settings(config), report_path=report)))


@app.command()
def broker(
    port: int = typer.Option(9092, help="loopback port to listen on"),
    storage: str = typer.Option(
        "memory://tansu/",
        help="memory://tansu/, or s3://bucket/ to survive restarts "
        "(AWS_ENDPOINT, AWS_ACCESS_KEY_ID... from the environment)",
    ),
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
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="JSONL file, one message per line: an event, an array of "
            "events, an OpenTelemetry GenAI event or an OTLP/JSON logs "
            "envelope",
        ),
    ],
    kind: str = typer.Option(..., help="inference or feedback"),
    rate: float = typer.Option(0.0, help="events per second; 0 = as fast as possible"),
    batch_size: int = typer.Option(100, help="events per Kafka message"),
    config: Path | None = ConfigOption,
) -> None:
    """Publish a JSONL file of events to the inference or feedback topic, decoded as the topic decodes them.

    Exits 1 when no event of the file was accepted; rejections name the file's line numbers.
    """
    from monitor.tools.replay import replay_file

    settings = _settings(config)
    if kind not in ("inference", "feedback"):
        raise typer.BadParameter(f"{kind!r} is not one of inference, feedback", param_hint="--kind")
    if not settings.kafka_bootstrap:
        raise typer.BadParameter(
            "set MONITOR_KAFKA_BOOTSTRAP (e.g. 127.0.0.1:9092, see `monitor broker`)"
        )
    report = asyncio.run(replay_file(settings, file, kind, rate=rate, batch_size=batch_size))
    typer.echo(
        f"sent {report.sent} events in {report.messages} messages; {len(report.rejected)} rejected"
    )
    for rejection in report.rejected[:20]:
        typer.echo(f"  {file}: {rejection.describe()}", err=True)
    if len(report.rejected) > 20:
        typer.echo(f"  ... and {len(report.rejected) - 20} more", err=True)
    if report.sent == 0:
        typer.echo(
            f"error: no event of {file} was accepted ({report.lines} non-blank lines)", err=True
        )
        raise typer.Exit(1)


def run_query(
    settings: Settings, build, fmt: Format, *, title: str | None = None, **kwargs: Any
) -> Any:
    """Run one trend query, print the SQL it ran to stderr and its rows; returns the reader."""
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
    print_rows(result.columns, result.rows, fmt, title=title)
    return reader


ModelOption = typer.Option(None, "--model", help="only this model (must be one the store has seen)")
VersionOption = typer.Option(
    None, "--version", help="only this model version (must be one the store has seen)"
)
SinceOption = typer.Option(
    None, "--since", help="from a duration back from now (90m, 2h, 7d) or an ISO time"
)
UntilOption = typer.Option(
    None, "--until", help="before a duration back from now (30m, 1d) or an ISO time"
)
LimitOption = typer.Option(10_000, "--limit", min=1, help="at most this many rows")
FormatOption = typer.Option(Format.table, "--format", "-f", help="table (aligned), json or csv")


class _Window(TypedDict):
    since: float | None
    until: float | None


def _window(since: str | None, until: str | None) -> _Window:
    return {"since": parse_time(since, "--since"), "until": parse_time(until, "--until")}


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
        _settings(config),
        metrics_query,
        fmt,
        model=model,
        version=version,
        metric=metric,
        segment=segment,
        limit=limit,
        **_window(since, until),
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

    settings = _settings(config)
    times = _window(since, until)
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
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(u.window_start)),
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
                f"not scored: {row[0]} {row[1]}/{row[2]} ({row[3]} events): {row[4]}", err=True
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
        _settings(config),
        detections_query,
        fmt,
        model=model,
        version=version,
        stream=stream,
        detector=detector,
        limit=limit,
        **_window(since, until),
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
        _settings(config),
        comparisons_query,
        fmt,
        model=model,
        version=version,
        metric=metric,
        limit=limit,
        **_window(since, until),
    )


StatusOption = typer.Option(None, "--status", help="firing or resolved")


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
        _settings(config),
        fmt,
        model=model,
        version=version,
        status=status,
        limit=limit,
        **_window(since, until),
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
app.add_typer(alerts_app, name="alerts")


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

    show_alert(_settings(config), alert_id, fmt)


def _experiment_apps() -> None:
    from monitor.tools.cli_experiments import experiment_app, experiments_app

    app.add_typer(experiments_app, name="experiments")
    app.add_typer(experiment_app, name="experiment")


_experiment_apps()


def _shadow_apps() -> None:
    from monitor.tools.cli_shadow import shadow_app

    app.add_typer(shadow_app, name="shadow")


_shadow_apps()

rules_app = typer.Typer(help="Alert rules files.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("check")
def rules_check(file: Annotated[Path, typer.Argument(help="YAML rules file")]) -> None:
    """Validate a rules file: keys, values, and metric and detector names against the metric catalogue."""
    from monitor.alerts.rules import load_rules
    from monitor.errors import ConfigError

    if not file.exists():
        raise ConfigError(f"{file} does not exist")
    rules = load_rules(file)
    typer.echo(f"{file}: {len(rules)} rules OK")
    print_rows(
        [
            "rule",
            "signal",
            "severity",
            "metric",
            "condition",
            "threshold",
            "relative_to",
            "for_windows",
        ],
        [
            (
                r.name,
                r.signal,
                r.severity,
                r.metric or "-",
                r.condition or "-",
                "-" if r.threshold is None else r.threshold,
                r.relative_to,
                r.for_windows,
            )
            for r in rules
        ],
        Format.table,
    )


@rules_app.command("show-defaults")
def rules_defaults() -> None:
    """Print the rules file shipped with the monitor (a starting point for your own)."""
    from monitor.alerts.rules import DEFAULT_RULES_PATH

    typer.echo(DEFAULT_RULES_PATH.read_text())


@app.command("schema")
def schema_command(
    write: Annotated[
        Path | None, typer.Option("--write", help="write the JSON Schemas into this directory")
    ] = None,
    check: Annotated[
        Path | None,
        typer.Option("--check", help="exit 1 if the schemas in this directory are stale"),
    ] = None,
    kind: str = typer.Option(
        "inference", help="without --write/--check: print this one (inference, feedback, batch)"
    ),
) -> None:
    """JSON Schemas (draft 2020-12) of inference events, feedback events and messages, from the contract."""
    from monitor.contract.json_schema import SCHEMA_FILES, schema_documents, write_schemas

    if write is None and check is None:
        if kind not in SCHEMA_FILES:
            raise typer.BadParameter(
                f"{kind!r} is not one of {', '.join(SCHEMA_FILES)}", param_hint="--kind"
            )
        typer.echo(schema_documents()[SCHEMA_FILES[kind]], nl=False)
        return
    stale = write_schemas(write or check, check=check is not None)  # type: ignore[arg-type]
    for path in stale:
        typer.echo(f"{'stale' if check else 'wrote'} {path}")
    if check is not None and stale:
        raise typer.Exit(1)


baseline_app = typer.Typer(
    help="Reference profiles that input drift is scored against.", no_args_is_help=True
)
app.add_typer(baseline_app, name="baseline")


def _drift_store(config: Path | None):
    from monitor.adapters.client_security import clickhouse_client_options
    from monitor.adapters.drift_store import DriftStore
    from monitor.adapters.reader import open_store

    settings = _settings(config)
    return DriftStore(
        open_store(
            settings.clickhouse_url,
            clickhouse_client_options(settings),
            token=settings.web_token_value,
        )
    )


def _require_baseline_names(
    store, model: str | None, version: str | None, baseline_id: str | None = None
) -> None:
    """Say which models, versions and ids do have baselines when a filter matched none."""
    every = store.list_baselines()
    require_known("--model", model, {r["model"] for r in every}, "model with a baseline")
    require_known(
        "--version",
        version,
        {r["model_version"] for r in every if model in (None, r["model"])},
        "version with a baseline",
    )
    require_known(
        "--id",
        baseline_id,
        {r["baseline_id"] for r in every if (r["model"], r["model_version"]) == (model, version)},
        f"baseline of {model}/{version}",
    )


@baseline_app.command("build")
def baseline_build(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="JSONL, CSV or Parquet records")
    ],
    model: str = typer.Option(..., help="the model the baseline is for"),
    version: str = typer.Option(..., help="the model version the baseline is for"),
    bins: int | None = typer.Option(None, help="numeric bins (default MONITOR_DRIFT_BINS, 10)"),
    top_k: int | None = typer.Option(
        None, help="categories kept (default MONITOR_DRIFT_TOP_K, 20)"
    ),
    baseline_id: str | None = typer.Option(
        None, "--id", help="id to store it under (default: generated)"
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Build a baseline from a file of inference-shaped records and make it the active one."""
    from monitor.contract.records import load_records
    from monitor.drift.baseline import build_baseline

    settings = _settings(config)
    records = list(load_records(file))
    baseline = build_baseline(
        model,
        version,
        records,
        n_bins=bins or settings.drift_bins,
        top_k=top_k or settings.drift_top_k,
        now=time.time(),
        source=str(file),
    )
    baseline = _with_embeddings(baseline, records, settings)
    stored = _drift_store(config).save_baseline(baseline, baseline_id)
    typer.echo(
        f"baseline {stored}: {model}/{version}, {baseline.n} records, {len(baseline.features)} features"
        + (f", accuracy {baseline.accuracy:.3f}" if baseline.accuracy is not None else "")
    )
    if baseline.embedding is not None:
        names = "; ".join(baseline.embedding.topic_names)
        typer.echo(f"prompt topics ({baseline.embedding.embedder}): {names}")


def _with_embeddings(baseline, records, settings):
    """The baseline with an embedding profile of the records' input_text (MONITOR_EMBEDDER)."""
    from monitor.adapters.embedders import load_embedder
    from monitor.drift.embedding_baseline import attach_embeddings, sample_embedding_fields

    texts = [r.get("input_text") for r in records]
    embedder = load_embedder(settings.embedder) if any(t is not None for t in texts) else None
    if embedder is None:
        return baseline
    fields = sample_embedding_fields(embedder, texts)
    return attach_embeddings(
        baseline, [{"embedding": f} for f in fields if f], topics=settings.embedding_topics
    )


@baseline_app.command("list")
def baseline_list(
    model: str | None = typer.Option(None, help="only this model"),
    version: str | None = typer.Option(None, help="only this model version"),
    fmt: Format = FormatOption,
    config: Path | None = ConfigOption,
) -> None:
    """Every baseline, deleted ones included (their history stays scored against them)."""
    store = _drift_store(config)
    rows = store.list_baselines(model, version)
    if not rows and (model or version):
        _require_baseline_names(store, model, version)
    columns = ["baseline_id", "model", "model_version", "created_at", "source", "n", "deleted"]
    print_rows(columns, [tuple(r[c] for c in columns) for r in rows], fmt)


@baseline_app.command("show")
def baseline_show(
    baseline_id: str = typer.Argument(..., help="id from `monitor baseline list`"),
    config: Path | None = ConfigOption,
) -> None:
    """Print one baseline as JSON."""
    found = _drift_store(config).load_baselines([baseline_id])
    if not found:
        raise MonitorError(f"no baseline {baseline_id!r}; see `monitor baseline list`")
    typer.echo(found[baseline_id].to_json())


@baseline_app.command("delete")
def baseline_delete(
    model: str = typer.Option(..., help="the model whose baselines to retire"),
    version: str = typer.Option(..., help="the version whose baselines to retire"),
    baseline_id: str | None = typer.Option(None, "--id", help="only this baseline (default: all)"),
    config: Path | None = ConfigOption,
) -> None:
    """Retire the baselines of a version (or one of them); windows already scored keep their scores."""
    store = _drift_store(config)
    if not any(
        r["baseline_id"] == baseline_id or baseline_id is None
        for r in store.list_baselines(model, version)
    ):
        _require_baseline_names(store, model, version, baseline_id)
    n = store.delete_baseline(model, version, baseline_id)
    typer.echo(f"{n} baseline(s) deleted for {model}/{version}")


@app.command()
def demo(
    duration: float = typer.Option(0, help="seconds to run; 0 runs until Ctrl-C"),
    rate: float = typer.Option(200.0, help="inference events per second"),
    window: str = typer.Option("10s", help="window length for the demo"),
    drift_at: float = typer.Option(0.5, help="share of the duration after which drift is injected"),
    data_dir: Annotated[Path, typer.Option(help="where the demo keeps its store")] = Path(
        ".monitor-data/demo"
    ),
) -> None:
    """Broker, worker and a simulated LLM assistant's traffic, with drift injected midway."""
    from monitor.tools.cli_support import parse_duration_option
    from monitor.tools.demo import run_demo

    parse_duration_option(window, "--window")

    sys.exit(
        run_demo(duration=duration, rate=rate, window=window, drift_at=drift_at, data_dir=data_dir)
    )


@app.command()
def ui(
    host: str = typer.Option(
        "127.0.0.1", help="address to listen on (beyond loopback only with MONITOR_WEB_TOKEN)"
    ),
    port: int = typer.Option(8050, help="port to listen on"),
    config: Path | None = ConfigOption,
) -> None:
    """The dashboard of MONITOR_CLICKHOUSE_URL's store on http://HOST:PORT/ (same pages as a worker's /)."""
    from monitor.adapters.client_security import clickhouse_client_options
    from monitor.adapters.reader import open_reader
    from monitor.dashboard.server import run_ui
    from streams.access import check_web_bind

    settings = _settings(config, web_host=host)
    check_web_bind(settings)
    reader = open_reader(
        settings.clickhouse_url, clickhouse_client_options(settings), token=settings.web_token_value
    )
    typer.echo(
        f"dashboard of {settings.clickhouse_url}: http://{host}:{port}/"
        + ("  (open it once with ?token=$MONITOR_WEB_TOKEN)" if settings.web_token_value else "")
    )
    run_ui(reader, host, port, settings.web_token_value)


@app.command()
def bench(
    events: int = typer.Option(200_000, help="events to produce for each case"),
    batch: int = typer.Option(100, help="events per message in the batched case"),
    output: Annotated[Path | None, typer.Option(help="also write the results as JSON here")] = None,
    case: str = typer.Option(
        "standard", help="standard (10 numeric + 3 categorical), drift (20 + 5) or all"
    ),
    partitions: int = typer.Option(2, help="partitions of the bench topics"),
    embeddings: bool = typer.Option(
        False,
        "--embeddings",
        help="instead: the embedder's texts/s and the drift fold's cost with embeddings on",
    ),
    latency: bool = typer.Option(
        True, help="also time event -> alert on live traffic (about 60 s more)"
    ),
    repeat: int = typer.Option(
        1,
        help="runs of each consumer over each backlog, in turns; the table shows the best",
    ),
    in_process: bool = typer.Option(
        False,
        "--in-process",
        help="instead: the worker's batch steps alone (no broker, no Faust), CPU per event",
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Measure the worker against a bare Faust agent and a bare aiokafka consumer."""
    if repeat != 1 and (in_process or embeddings):
        raise typer.BadParameter("--repeat applies to the broker runs only", param_hint="--repeat")
    if in_process:
        from monitor.tools.bench_inprocess import run_bench_in_process

        sys.exit(run_bench_in_process(events=events, batch=batch, case=case, output=output))
    if embeddings:
        from monitor.tools.bench_embeddings import run_bench_embeddings

        embedder = _settings(config).embedder or "wordllama"
        sys.exit(
            run_bench_embeddings(embedder, events=min(events, 20_000), batch=1000, output=output)
        )
    from monitor.tools.bench import run_bench

    sys.exit(
        run_bench(
            events=events,
            batch=batch,
            output=output,
            case=case,
            partitions=partitions,
            latency=latency,
            repeat=repeat,
        )
    )


@app.command()
def fuzz(
    messages: int = typer.Option(
        100_000, help="generated and mutated messages to send through the batch path"
    ),
    seed: int = typer.Option(1, help="seed of the generator: a run is reproducible"),
    batch: int = typer.Option(500, help="messages per consumed batch"),
    output: Annotated[Path | None, typer.Option(help="also write the report as JSON here")] = None,
) -> None:
    """Fuzz the whole batch path into embedded ClickHouse; exit 1 if anything escaped or was lost."""
    from monitor.tools.fuzz import run_fuzz

    sys.exit(0 if run_fuzz(messages, seed, batch, str(output) if output else None).ok else 1)


def main() -> None:
    try:
        app()
    except MonitorError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
