"""``monitor experiments check FILE`` and ``monitor experiment report``: A/B experiments from the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.errors import ConfigError
from monitor.experiments.config import ExperimentSpec
from monitor.experiments.formatting import effect_parts, p_value_text, precision_for
from monitor.experiments.report import METRIC_ROW_COLUMNS, SUMMARY_COLUMNS
from monitor.tools.cli_options import ConfigOption, FormatOption, cli_settings
from monitor.tools.cli_support import Format, counted, print_rows

__all__ = [
    "declaration_lines",
    "experiment_app",
    "experiments_app",
    "table_row",
    "unadjusted_note",
    "undeclared_note",
    "unsegmented_note",
]

experiments_app = typer.Typer(
    help="A/B experiment declarations (MONITOR_EXPERIMENTS).", no_args_is_help=True
)
experiment_app = typer.Typer(help="A/B experiment results.", no_args_is_help=True)

# The table shows every metric row column but the lift interval and the primary flag (in JSON and CSV).
# The table's title names the experiment, so its column is left out of the table (not of JSON/CSV).
TABLE_ROW_COLUMNS = tuple(
    c
    for c in METRIC_ROW_COLUMNS
    if c not in ("experiment", "lift_ci_low", "lift_ci_high", "primary")
)
TABLE_SUMMARY_COLUMNS = tuple(c for c in SUMMARY_COLUMNS if c != "experiment")

# Printed as text by the table (fixed decimals), still right-aligned like numbers.
NUMERIC_COLUMNS = frozenset(
    {"value_control", "value_treatment", "diff", "ci_low", "ci_high", "lift", "p_value"}
    | {"srm_p_value", "srm_sequential_p_value", "remaining_sample"}
)


@experiments_app.command("check")
def experiments_check(file: Annotated[Path, typer.Argument(help="YAML experiments file")]) -> None:
    """Validate an experiments file: keys, values, and metric names against the metric catalogue."""
    from monitor.experiments.config import load_experiments

    if not file.exists():
        raise ConfigError(f"{file} does not exist")
    specs = load_experiments(file)
    typer.echo(f"{file}: {counted(len(specs), 'experiment')} OK")
    for spec in specs:
        typer.echo("")
        typer.echo("\n".join(declaration_lines(spec)))
    keys = cli_settings(None).segment_keys
    for s in specs:
        unknown = [key for key in s.segments if key not in keys]
        if unknown:
            typer.echo(unsegmented_note(s.name, unknown, keys), err=True)


def declaration_lines(spec: ExperimentSpec) -> list[str]:
    """What the workers will measure for ``spec``, as ``monitor experiments check`` prints it.

    >>> from monitor.experiments.config import load_experiments
    >>> (spec,) = load_experiments(
    ...     "experiments: [{name: e, control: a, treatment: b, split: {a: 9, b: 1},"
    ...     " metrics: [satisfaction], covariate: prior_tasks, minimum_detectable_effect: 0.03}]")
    >>> print("\\n".join(declaration_lines(spec)))
    e
      variants        a (control) 90 %, b (treatment) 10 %
      primary metric  task_completion, minimum detectable effect 0.03, alpha 0.05, power 0.8
      guardrails      human_takeover, bad_case, latency_ms (margin 0: harmed by any worsening)
      also reported   satisfaction
      covariate       prior_tasks (CUPED)
      segments        none
    """
    margins = {g.margin for g in spec.guardrails}
    guardrails = ", ".join(
        g.metric + (f" (margin {g.margin:g})" if len(margins) > 1 else "") for g in spec.guardrails
    )
    if len(margins) == 1:
        (margin,) = margins
        guardrails += (
            " (margin 0: harmed by any worsening)" if margin == 0 else f" (margin {margin:g})"
        )
    mde = (
        "no minimum detectable effect (no planned sample)"
        if spec.minimum_detectable_effect is None
        else f"minimum detectable effect {spec.minimum_detectable_effect:g}"
    )
    rows = [
        (
            "variants",
            f"{_role(spec.control, 'control')} {spec.split[0]:.0%}, "
            f"{_role(spec.treatment, 'treatment')} {spec.split[1]:.0%}".replace("%", " %"),
        ),
        (
            "primary metric",
            f"{spec.primary_metric}, {mde}, alpha {spec.alpha:g}, power {spec.power:g}",
        ),
        ("guardrails", guardrails or "none"),
        ("also reported", ", ".join(spec.metrics) or "none"),
        ("covariate", f"{spec.covariate} (CUPED)" if spec.covariate else "none"),
        ("segments", ", ".join(spec.segments) or "none"),
    ]
    title = spec.name + (f" (model {spec.model})" if spec.model else "")
    return [title, *(f"  {label:<15} {value}" for label, value in rows)]


def _role(variant: str, role: str) -> str:
    return variant if variant == role else f"{variant} ({role})"


def unsegmented_note(experiment: str, unknown: list[str], keys: list[str]) -> str:
    """Declared segments the workers compute no rows for: only MONITOR_SEGMENT_KEYS' keys have any.

    >>> print(unsegmented_note("e", ["tenant"], ["region"]))  # doctest: +NORMALIZE_WHITESPACE
    note: experiment 'e': segment tenant is not in MONITOR_SEGMENT_KEYS (["region"]): the
    workers compute per-segment rows only for those keys; add them there, or no row will show
    """
    shown = "[" + ", ".join(f'"{k}"' for k in keys) + "]"
    named = f"segments {', '.join(unknown)} are" if len(unknown) > 1 else f"segment {unknown[0]} is"
    return (
        f"note: experiment {experiment!r}: {named} not in "
        f"MONITOR_SEGMENT_KEYS ({shown}): the workers compute per-segment rows only for those "
        "keys; add them there, or no row will show"
    )


def undeclared_note(experiment: str, experiments_file: str | None) -> str:
    """What a report of an experiment the settings do not declare is computed with, and why the
    workers' decision can differ (they report and alert with their own MONITOR_EXPERIMENTS).

    >>> print(undeclared_note("prompt-v3", None))  # doctest: +NORMALIZE_WHITESPACE
    note: experiment 'prompt-v3' is not declared in MONITOR_EXPERIMENTS (unset here): reported with
    the defaults of a discovered experiment (primary metric task_completion; guardrails
    human_takeover, bad_case, latency_ms at margin 0; no minimum detectable effect). The workers
    decide and alert with their MONITOR_EXPERIMENTS: run this with the same file to see their
    decision.
    """
    from monitor.experiments.config import DEFAULT_GUARDRAILS, DEFAULT_PRIMARY_METRIC

    where = experiments_file or "unset here"
    return (
        f"note: experiment {experiment!r} is not declared in MONITOR_EXPERIMENTS ({where}): "
        f"reported with the defaults of a discovered experiment (primary metric "
        f"{DEFAULT_PRIMARY_METRIC}; guardrails {', '.join(DEFAULT_GUARDRAILS)} at margin 0; no "
        "minimum detectable effect). The workers decide and alert with their "
        "MONITOR_EXPERIMENTS: run this with the same file to see their decision."
    )


def unadjusted_note(experiment: str, covariate: str) -> str:
    """Why a declared covariate adjusted nothing: no inference carried it (a misspelt feature, or
    workers started without the declaration: they fold covariates read at start).

    >>> print(unadjusted_note("e", "prior_task"))  # doctest: +NORMALIZE_WHITESPACE
    note: experiment 'e' declares covariate 'prior_task', but the workers folded no inference of
    it with a non-zero numeric feature 'prior_task': nothing is CUPED-adjusted. Check the
    feature's name in the events, and that the workers run with this declaration (they read
    covariates at start).
    """
    return (
        f"note: experiment {experiment!r} declares covariate {covariate!r}, but the workers "
        f"folded no inference of it with a non-zero numeric feature {covariate!r}: nothing is "
        "CUPED-adjusted. Check the feature's name in the events, and that the workers run with "
        "this declaration (they read covariates at start)."
    )


def _clean(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _text(value: Any) -> Any:
    return ", ".join(value) if isinstance(value, list) else value


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def table_row(row: dict[str, Any]) -> dict[str, Any]:
    """A report row (JSON form) as the table prints it: the arms' values, the difference and its
    interval with the same decimals, the lift in percent, p-values as ``0.003`` or ``< 0.001``.

    >>> r = table_row({"value_control": 0.6012, "value_treatment": 0.6634, "diff": 0.0622,
    ...                "ci_low": 0.0301, "ci_high": 0.0943, "lift": 0.1035, "lift_ci_low": 0.048,
    ...                "lift_ci_high": 0.159, "p_value": 0.00012})
    >>> [r[c] for c in ("value_control", "value_treatment", "diff", "ci_low", "ci_high", "lift", "p_value")]
    ['0.601', '0.663', '+0.062', '+0.030', '+0.094', '+10%', '< 0.001']
    >>> table_row({"decision": "continue", "remaining_sample": 4727.63})["remaining_sample"]
    '4,728'
    """
    out = dict(row)
    if row.get("remaining_sample") is not None:  # as the reason says it: "about 4,728 more units"
        out["remaining_sample"] = f"{row['remaining_sample']:,.0f}"
    for column in ("p_value", "srm_p_value", "srm_sequential_p_value"):
        if column in row:
            out[column] = p_value_text(_number(row[column]))
    if "diff" in row:
        diff, low, high = (_number(row[c]) for c in ("diff", "ci_low", "ci_high"))
        out["diff"], out["ci_low"], out["ci_high"] = effect_parts(diff, low, high)
        arm = precision_for(diff, low, high)
        out["value_control"] = arm.text(_number(row["value_control"]))
        out["value_treatment"] = arm.text(_number(row["value_treatment"]))
        lift = precision_for(
            _number(row["lift"]),
            _number(row["lift_ci_low"]),
            _number(row["lift_ci_high"]),
            percent=True,
        )
        out["lift"] = lift.text(_number(row["lift"]), signed=True)
    return out


@experiment_app.command("report")
def experiment_report_command(
    experiment: str = typer.Option(..., "--experiment", help="the experiment name events carry"),
    fmt: Format = FormatOption,
    config: Path | None = ConfigOption,
) -> None:
    """Every metric of one experiment with its always-valid interval, the SRM check and the decision."""
    from monitor.adapters.client_security import clickhouse_client_options
    from monitor.adapters.experiment_store import (
        read_experiment_scopes,
        read_experiment_sums,
        reported_experiments,
    )
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
    sums = read_experiment_sums(reader, reader.db, experiment)
    reports = experiment_reports(
        sums,
        specs,
        only=experiment,
        scopes=read_experiment_scopes(reader, reader.db, only=[experiment]),
    )
    if not reports:
        known, more = reported_experiments(
            reader, reader.db, [s.name for s in specs], settings.max_experiments
        )
        others = f" and {more} more with less traffic" if more else ""
        raise ConfigError(
            f"--experiment {experiment!r}: no events with two variants of it yet; "
            f"known: {', '.join(sorted(known)) or 'none yet'}{others}"
        )
    rows, summary = reports[0]
    spec = next((s for s in specs if s.name == experiment), None)
    if spec is None:
        typer.echo(undeclared_note(experiment, settings.experiments), err=True)
    elif spec.covariate and not any(n.endswith(":x2") and total > 0 for n, _, _, total in sums):
        typer.echo(unadjusted_note(experiment, spec.covariate), err=True)
    dicts = [{k: _clean(v) for k, v in d.items()} for d in report_dicts(rows, summary)]
    if fmt is Format.json:
        typer.echo(json.dumps(dicts, indent=1))
        return
    if fmt is Format.csv:
        columns = list(dict.fromkeys([*METRIC_ROW_COLUMNS, *SUMMARY_COLUMNS, "tuning"]))
        print_rows(columns, [[_text(d.get(c)) for c in columns] for d in dicts], Format.csv)
        return
    shown = [table_row(d) for d in dicts]
    print_rows(
        list(TABLE_ROW_COLUMNS),
        [[d[c] for c in TABLE_ROW_COLUMNS] for d in shown[:-1]],
        Format.table,
        title=f"experiment {experiment}: {summary.treatment} against {summary.control}, "
        f"model {', '.join(summary.models) or '-'} version {', '.join(summary.model_versions) or '-'}",
        numeric=NUMERIC_COLUMNS,
    )
    print_rows(
        list(TABLE_SUMMARY_COLUMNS),
        [[_text(shown[-1][c]) for c in TABLE_SUMMARY_COLUMNS]],
        Format.table,
        numeric=NUMERIC_COLUMNS,
    )
