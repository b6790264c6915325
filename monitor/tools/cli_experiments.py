"""``monitor experiments check FILE`` and ``monitor experiment report``: A/B experiments from the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.errors import ConfigError
from monitor.experiments.report import METRIC_ROW_COLUMNS, SUMMARY_COLUMNS
from monitor.tools.cli_support import Format, print_rows

__all__ = ["experiment_app", "experiments_app"]

experiments_app = typer.Typer(
    help="A/B experiment declarations (MONITOR_EXPERIMENTS).", no_args_is_help=True
)
experiment_app = typer.Typer(help="A/B experiment results.", no_args_is_help=True)

# The table shows every metric row column but the lift interval and the primary flag (in JSON and CSV).
TABLE_ROW_COLUMNS = tuple(
    c for c in METRIC_ROW_COLUMNS if c not in ("lift_ci_low", "lift_ci_high", "primary")
)


@experiments_app.command("check")
def experiments_check(file: Annotated[Path, typer.Argument(help="YAML experiments file")]) -> None:
    """Validate an experiments file: keys, values, and metric names against the metric catalogue."""
    from monitor.experiments.config import load_experiments

    if not file.exists():
        raise ConfigError(f"{file} does not exist")
    specs = load_experiments(file)
    typer.echo(f"{file}: {len(specs)} experiments OK")
    print_rows(
        [
            "experiment",
            "model",
            "control",
            "treatment",
            "split",
            "primary_metric",
            "guardrails",
            "mde",
            "alpha",
        ],
        [
            (
                s.name,
                s.model or "-",
                s.control,
                s.treatment,
                f"{s.split[0]:g}/{s.split[1]:g}",
                s.primary_metric,
                ", ".join(
                    f"{g.metric}" + (f" (margin {g.margin:g})" if g.margin else "")
                    for g in s.guardrails
                ),
                "-" if s.minimum_detectable_effect is None else s.minimum_detectable_effect,
                s.alpha,
            )
            for s in specs
        ],
        Format.table,
    )


def _clean(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _text(value: Any) -> Any:
    return ", ".join(value) if isinstance(value, list) else value


@experiment_app.command("report")
def experiment_report_command(
    experiment: str = typer.Option(..., "--experiment", help="the experiment name events carry"),
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help="table (aligned), json or csv")
    ] = Format.table,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML or YAML settings file")
    ] = None,
) -> None:
    """Every metric of one experiment with its always-valid interval, the SRM check and the decision."""
    from monitor.adapters.client_security import clickhouse_client_options
    from monitor.adapters.experiment_store import read_experiment_scopes, read_experiment_sums
    from monitor.adapters.reader import open_reader
    from monitor.experiments.config import load_experiments
    from monitor.experiments.report import report_dicts
    from monitor.experiments.results import experiment_reports
    from monitor.tools.cli_options import cli_settings as _settings

    settings = _settings(config)
    specs = load_experiments(settings.experiments) if settings.experiments else ()
    reader = open_reader(
        settings.clickhouse_url, clickhouse_client_options(settings), token=settings.web_token_value
    )
    reports = experiment_reports(
        read_experiment_sums(reader, reader.db, experiment),
        specs,
        only=experiment,
        scopes=read_experiment_scopes(reader, reader.db),
    )
    if not reports:
        known = sorted(
            {b.split("\t", 1)[0] for _, b, _, _ in read_experiment_sums(reader, reader.db)}
        )
        raise ConfigError(
            f"--experiment {experiment!r}: no events with two variants of it yet; "
            f"known: {', '.join(known) or 'none yet'}"
        )
    rows, summary = reports[0]
    dicts = [{k: _clean(v) for k, v in d.items()} for d in report_dicts(rows, summary)]
    if fmt is Format.json:
        typer.echo(json.dumps(dicts, indent=1))
        return
    if fmt is Format.csv:
        columns = list(dict.fromkeys([*METRIC_ROW_COLUMNS, *SUMMARY_COLUMNS, "tuning"]))
        print_rows(columns, [[_text(d.get(c)) for c in columns] for d in dicts], Format.csv)
        return
    print_rows(
        list(TABLE_ROW_COLUMNS),
        [[d[c] for c in TABLE_ROW_COLUMNS] for d in dicts[:-1]],
        Format.table,
        title=f"experiment {experiment}: {summary.treatment} against {summary.control}, "
        f"model {', '.join(summary.models) or '-'} version {', '.join(summary.model_versions) or '-'}",
    )
    print_rows(
        list(SUMMARY_COLUMNS), [[_text(dicts[-1][c]) for c in SUMMARY_COLUMNS]], Format.table
    )
