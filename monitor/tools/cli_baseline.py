"""``monitor baseline ...``: build, list, show and retire the reference profiles drift is scored against."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from monitor.errors import ConfigError, MonitorError
from monitor.tools.cli_options import ConfigOption, FormatOption, cli_settings, setting_range
from monitor.tools.cli_support import Format, counted, print_rows, require_known

__all__ = ["baseline_app", "new_embedded_store"]

baseline_app = typer.Typer(
    help="Reference profiles that input drift is scored against.", no_args_is_help=True
)


def _drift_store(config: Path | None):
    from monitor.adapters.client_security import clickhouse_client_options
    from monitor.adapters.drift_store import DriftStore
    from monitor.adapters.reader import open_store

    settings = cli_settings(config)
    return DriftStore(
        open_store(
            settings.clickhouse_url,
            clickhouse_client_options(settings),
            token=settings.web_token_value,
        )
    )


def new_embedded_store(clickhouse_url: str) -> Path | None:
    """The directory of an embedded store that does not exist yet (``None`` for one that does,
    or a server): saving a baseline there creates it, where no worker may ever look.

    >>> new_embedded_store("http://clickhouse:8123/monitor") is None
    True
    """
    from monitor.adapters.store_url import parse_store_url

    path = parse_store_url(clickhouse_url).path
    return path.resolve() if path is not None and not path.exists() else None


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
    bins: int | None = typer.Option(
        None,
        **setting_range("drift_bins"),
        help="numeric bins (default MONITOR_DRIFT_BINS, 10)",
    ),
    top_k: int | None = typer.Option(
        None,
        **setting_range("drift_top_k"),
        help="categories kept (default MONITOR_DRIFT_TOP_K, 20)",
    ),
    baseline_id: str | None = typer.Option(
        None, "--id", help="id to store it under (default: generated)"
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Build a baseline from a file of inference-shaped records and make it the active one."""
    from monitor.contract.records import load_records
    from monitor.drift.baseline import build_baseline, records_of

    settings = cli_settings(config)
    records, others = records_of(load_records(file), model, version)
    if others:
        held = ", ".join(f"{name} ({n:,})" for name, n in others.most_common())
        if not records:
            raise ConfigError(
                f"no record of {model}/{version} in {file}: its records are of {held}; "
                "a record naming no model or version is taken for any"
            )
        typer.echo(
            f"note: left out {counted(others.total(), 'record')} of {file} naming another model "
            f"or version: {held}",
            err=True,
        )
    baseline = build_baseline(
        model,
        version,
        records,
        n_bins=settings.drift_bins if bins is None else bins,
        top_k=settings.drift_top_k if top_k is None else top_k,
        now=time.time(),
        source=str(file),
    )
    baseline = _with_embeddings(baseline, records, settings)
    new_store = new_embedded_store(settings.clickhouse_url)
    stored = _drift_store(config).save_baseline(baseline, baseline_id)
    typer.echo(
        f"baseline {stored}: {model}/{version}, {counted(baseline.n, 'record')}, "
        f"{counted(len(baseline.features), 'feature')}"
        + (f", accuracy {baseline.accuracy:.3f}" if baseline.accuracy is not None else "")
    )
    if new_store is not None:
        typer.echo(
            f"note: there was no embedded store at {new_store}: this created one there. Workers "
            "score drift against the baselines of their own MONITOR_CLICKHOUSE_URL: start them "
            "with this one (a worker started in another directory has a store of its own there)",
            err=True,
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
    typer.echo(f"{counted(n, 'baseline')} deleted for {model}/{version}")
