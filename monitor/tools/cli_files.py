"""``monitor rules ...`` and ``monitor schema``: the alert rules files and the event JSON Schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from monitor.tools.cli_options import ConfigOption, cli_settings
from monitor.tools.cli_support import Format, counted, print_rows

__all__ = ["rules_app", "schema_command"]

rules_app = typer.Typer(help="Alert rules files.", no_args_is_help=True)


@rules_app.command("check")
def rules_check(
    file: Annotated[
        Path | None,
        typer.Argument(help="YAML rules file; default: the one MONITOR_ALERT_RULES names"),
    ] = None,
    config: Path | None = ConfigOption,
) -> None:
    """Validate a rules file: keys, values, and metric and detector names against the metric
    catalogue. Without FILE, the rules a worker started here would load."""
    from monitor.alerts.rules import configured_rules, judged_elsewhere, load_rules
    from monitor.errors import ConfigError

    if file is not None:
        if not file.exists():
            raise ConfigError(f"{file} does not exist")
        rules = load_rules(file)
        source = str(file)
    else:
        setting = cli_settings(config).alert_rules
        rules = configured_rules(setting)
        source = (
            f"MONITOR_ALERT_RULES={setting}"
            if setting
            else "MONITOR_ALERT_RULES is unset, the shipped defaults"
        )
    typer.echo(f"{source}: {counted(len(rules), 'rule')} OK")
    for note in judged_elsewhere(rules):
        typer.echo(f"note: {note}", err=True)
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


def schema_command(
    write: Annotated[
        Path | None,
        typer.Option("--write", file_okay=False, help="write the JSON Schemas into this directory"),
    ] = None,
    check: Annotated[
        Path | None,
        typer.Option(
            "--check", file_okay=False, help="exit 1 if the schemas in this directory are stale"
        ),
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
