"""The commands that run the monitor on generated traffic: the demo, the benchmark and the fuzzer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from monitor.contract.fields import MAX_RECORD_BYTES
from monitor.tools.bench_inprocess import BATCHED_MESSAGES, least_events
from monitor.tools.cli_options import ConfigOption, cli_settings, setting_range
from monitor.tools.cli_support import LONGEST_OPTION

__all__ = ["bench", "demo", "fuzz"]

# The demo's bound: a rate of nan, inf or 10**400 events/s stopped the demo with a traceback once
# its broker and worker had started.
MAX_DEMO_RATE = 100_000.0

# A fuzz run's bounds: a batch of 0 looped for ever, 10**400 messages never ended.
MAX_FUZZ_MESSAGES = 10_000_000
MAX_FUZZ_BATCH = 100_000

# A bench's bounds: every event is held in memory (about 4 kB each in the drift case), a batched
# message stays under MAX_RECORD_BYTES (a drift case event is under 1 kB of JSON), and each repeat
# runs every consumer over every backlog again. 0, -1 or 10**12 ran into errors or for ever.
MAX_BENCH_EVENTS = 1_000_000
LARGEST_BENCH_EVENT_BYTES = 1_000
MAX_BENCH_BATCH = MAX_RECORD_BYTES // LARGEST_BENCH_EVENT_BYTES
MAX_BENCH_REPEAT = 100
DEFAULT_BENCH_BATCH = 100


def demo(
    duration: str = typer.Option(
        "0",
        help=f"how long to run, with its unit (90s, 5m, 2h); 0 runs until Ctrl-C (at most "
        f"{LONGEST_OPTION})",
    ),
    rate: float = typer.Option(
        200.0, min=0.0, max=MAX_DEMO_RATE, help="inference events per second"
    ),
    window: str = typer.Option(
        "10s", help=f"window length for the demo (at most {LONGEST_OPTION})"
    ),
    drift_at: float = typer.Option(
        0.5, min=0.0, help="share of the duration after which drift is injected"
    ),
    data_dir: Annotated[Path, typer.Option(help="where the demo keeps its store")] = Path(
        ".monitor-data/demo"
    ),
) -> None:
    """Broker, worker and a simulated LLM assistant's traffic, with drift injected midway."""
    from monitor.durations import MIN_WINDOW_SECONDS
    from monitor.tools.cli_support import parse_duration_option
    from monitor.tools.demo import run_demo

    seconds = parse_duration_option(duration, "--duration")
    parse_duration_option(window, "--window", shortest=MIN_WINDOW_SECONDS)
    sys.exit(
        run_demo(duration=seconds, rate=rate, window=window, drift_at=drift_at, data_dir=data_dir)
    )


def bench(
    events: int = typer.Option(
        200_000,
        min=1,
        max=MAX_BENCH_EVENTS,
        help="events to produce for each case; with --in-process at least "
        f"{2 * BATCHED_MESSAGES} × --batch and {least_events(1):,} "
        f"({least_events(DEFAULT_BENCH_BATCH):,} at the default --batch)",
    ),
    batch: int = typer.Option(
        DEFAULT_BENCH_BATCH,
        min=1,
        max=MAX_BENCH_BATCH,
        help="events per message in the batched case",
    ),
    output: Annotated[Path | None, typer.Option(help="also write the results as JSON here")] = None,
    case: str = typer.Option(
        "standard", help="standard (10 numeric + 3 categorical), drift (20 + 5) or all"
    ),
    partitions: int = typer.Option(
        2, **setting_range("partitions"), help="partitions of the bench topics"
    ),
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
        min=1,
        max=MAX_BENCH_REPEAT,
        help="runs of each consumer over each backlog, in turns; the table shows the best",
    ),
    in_process: bool = typer.Option(
        False,
        "--in-process",
        help="instead: the worker's batch steps alone (no broker, no Faust), CPU per event",
    ),
    join_store: str = typer.Option(
        "memory",
        help="with --in-process: memory (in-process join stores) or redis (MONITOR_REDIS_URL's, "
        "under keys of the bench's own, deleted afterwards)",
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Measure the worker against a bare Faust agent and a bare aiokafka consumer."""
    if repeat != 1 and (in_process or embeddings):
        raise typer.BadParameter("--repeat applies to the broker runs only", param_hint="--repeat")
    if join_store != "memory" and not in_process:
        raise typer.BadParameter("--join-store applies to --in-process", param_hint="--join-store")
    if in_process:
        from monitor.tools.bench_inprocess import run_bench_in_process

        sys.exit(
            run_bench_in_process(
                events=events, batch=batch, case=case, output=output, join_store=join_store
            )
        )
    if embeddings:
        from monitor.tools.bench_embeddings import run_bench_embeddings

        embedder = cli_settings(config).embedder or "wordllama"
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


def fuzz(
    messages: int = typer.Option(
        100_000,
        min=1,
        max=MAX_FUZZ_MESSAGES,
        help="generated and mutated messages to send through the batch path",
    ),
    seed: int = typer.Option(1, help="seed of the generator: a run is reproducible"),
    batch: int = typer.Option(500, min=1, max=MAX_FUZZ_BATCH, help="messages per consumed batch"),
    output: Annotated[Path | None, typer.Option(help="also write the report as JSON here")] = None,
) -> None:
    """Fuzz the whole batch path into embedded ClickHouse; exit 1 if anything escaped or was lost."""
    from monitor.tools.fuzz import run_fuzz

    sys.exit(0 if run_fuzz(messages, seed, batch, str(output) if output else None).ok else 1)
