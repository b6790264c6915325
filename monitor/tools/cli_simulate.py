"""``monitor simulate``: files of simulated traffic to replay, so that README's commands run as written."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["simulate"]

# The span is walked in one-second ticks and every event is held in memory: a longer span or more
# events ran for hours (10**400 events or a span of 10**23 days never ended).
LONGEST_SPAN = "30d"
MAX_EVENTS = 1_000_000


def simulate(
    out: Annotated[
        Path, typer.Option(help="directory to write the files to", file_okay=False)
    ] = Path("."),
    events: int = typer.Option(20_000, min=1, max=MAX_EVENTS, help="inference events"),
    span: str = typer.Option(
        "1h",
        help=f"the events are spread over this past span, ending now (at most {LONGEST_SPAN})",
    ),
    reference: int = typer.Option(
        2_000, min=0, max=MAX_EVENTS, help="undrifted events for a baseline's reference"
    ),
    drift_at: float = typer.Option(
        0.5, min=0.0, help="share of the span after which v2 drifts; 1 or more: no drift"
    ),
    seed: int = typer.Option(
        7, min=0, help="the same seed and span give the same events, shifted in time"
    ),
    shadow: float = typer.Option(
        0.0,
        min=0.0,
        max=1.0,
        help="share of production requests a shadow candidate (v3) answers too, among the "
        "inference events (docs/experiments.md, 'Try it')",
    ),
    force: bool = typer.Option(False, "--force", help="overwrite files of these names"),
) -> None:
    """Write files of simulated traffic to replay: reference, inference and feedback JSONL.

    The demo's support assistant: versions v1 and v2 (the two arms of the A/B experiment
    support-assistant-versions), feedback for about 70 % of requests a few seconds later, v2's
    inputs and outcomes shifted after --drift-at of the span; with --shadow, a shadow candidate v3.
    """
    from monitor.contract.timestamps import utc_text
    from monitor.errors import ConfigError
    from monitor.tools.cli_support import parse_duration_option
    from monitor.tools.sample_traffic import simulated_traffic, write_sample_files
    from monitor.tools.simulator import SHADOW_VERSION

    seconds = parse_duration_option(span, "--span", LONGEST_SPAN)
    if seconds <= 0:
        raise ConfigError(f"--span {span!r}: the events need a span longer than 0 s")
    traffic = simulated_traffic(
        events=events,
        span=seconds,
        end=time.time(),
        reference=reference,
        drift_at=drift_at,
        seed=seed,
        shadow=shadow,
    )
    ref, inf, fb = write_sample_files(traffic, out, force=force)
    drift = (
        f"; {traffic.drift_version} drifts from {utc_text(traffic.drift_from)}"
        if traffic.drift_from is not None
        else "; no drift"
    )
    typer.echo(
        f"{ref}: {len(traffic.reference):,} undrifted inference events (a baseline's reference)"
    )
    shadows = sum(e.get("deployment") == "shadow" for e in traffic.inferences)
    candidate = f" ({shadows:,} of them shadow answers of {SHADOW_VERSION})" if shadows else ""
    typer.echo(
        f"{inf}: {len(traffic.inferences):,} inference events of {traffic.model}{candidate}, "
        f"{utc_text(traffic.start)} to {utc_text(traffic.end)} UTC{drift}"
    )
    typer.echo(f"{fb}: {len(traffic.feedback):,} feedback events")
    typer.echo("next, with a broker and a worker running (README.md, 'Use it'):")
    for version in ("v1", "v2"):  # each version's baseline from its own reference records
        typer.echo(f"  monitor baseline build --model {traffic.model} --version {version} {ref}")
    typer.echo(f"  monitor replay {inf} --kind inference --rate 1000")
    typer.echo(f"  monitor replay {fb} --kind feedback")
    typer.echo(f"  monitor experiment report --experiment {traffic.model}-versions")
    if shadows:
        typer.echo(f"  monitor shadow report --model {traffic.model}")
