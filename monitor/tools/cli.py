"""The ``monitor`` command line: worker, demo, broker, simulate, replay, dead-letters, query, bench, fuzz.

This module only assembles the Typer app from the command modules (``cli_run``,
``cli_dead_letters``, ``cli_query``, ``cli_files``, ``cli_baseline``, ``cli_bench``,
``cli_experiments``, ``cli_shadow``, ``cli_simulate``) and runs it.
"""

from __future__ import annotations

import sys

import typer

from monitor.errors import MonitorError
from monitor.tools.cli_baseline import baseline_app
from monitor.tools.cli_bench import bench, demo, fuzz
from monitor.tools.cli_dead_letters import dead_letters
from monitor.tools.cli_experiments import experiment_app, experiments_app
from monitor.tools.cli_files import rules_app, schema_command
from monitor.tools.cli_query import alerts_app, query_app
from monitor.tools.cli_run import broker, judge, replay, ui, worker
from monitor.tools.cli_shadow import shadow_app
from monitor.tools.cli_simulate import simulate
from monitor.tools.cli_support import EXIT_USAGE, MonitorGroup

__all__ = ["app", "main"]

app = typer.Typer(
    help="Streaming drift and online-metrics monitor for production LLM and ML models.",
    no_args_is_help=True,
    add_completion=False,
    cls=MonitorGroup,
)

# `monitor --help` lists the commands in the order registered here, then the groups in theirs.
for name, command in (
    ("worker", worker),
    ("judge", judge),
    ("broker", broker),
    ("simulate", simulate),
    ("replay", replay),
    ("dead-letters", dead_letters),
    ("schema", schema_command),
    ("demo", demo),
    ("ui", ui),
    ("bench", bench),
    ("fuzz", fuzz),
):
    app.command(name)(command)
for name, group in (
    ("query", query_app),
    ("alerts", alerts_app),
    ("experiments", experiments_app),
    ("experiment", experiment_app),
    ("shadow", shadow_app),
    ("rules", rules_app),
    ("baseline", baseline_app),
):
    app.add_typer(group, name=name)


def main() -> None:
    try:
        app()
    except MonitorError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
