"""``monitor bench``: the worker's throughput against the limits of its stack, in one run.

Events are produced first, once as one event per message and once batched, each shape to its own
fresh topic. Then three consumers read the same backlog in turn:

- ``worker``: ``monitor worker`` end to end (consume, validate, aggregate, write to ClickHouse);
- ``bare_faust``: a Faust agent that only decodes (:mod:`monitor.tools.bench_faust`);
- ``bare_aiokafka``: an aiokafka consumer that only decodes.

Each rate counts from the first batch to the last, leaving out start-up and group join. The ratios
``worker / bare_faust`` and ``worker / bare_aiokafka`` say how close the worker is to its limits and
are steadier than the rates themselves.

The cases and their events are in :mod:`monitor.tools.bench_data`, the bare consumers in
:mod:`monitor.tools.bench_bare`, the measurement of one case in one shape in
:mod:`monitor.tools.bench_shape`, the results and their table in :mod:`monitor.tools.bench_results`.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from monitor.adapters.broker_check import check_broker
from monitor.adapters.client_security import kafka_client_options
from monitor.adapters.local_broker import given_or_local_broker
from monitor.errors import ConfigError
from monitor.settings import Settings
from monitor.tools.bench_data import CASES, BenchCase, bench_events
from monitor.tools.bench_latency import LatencyResult, measure_alert_latency
from monitor.tools.bench_results import ShapeResult, format_table, machine
from monitor.tools.bench_shape import Echo, measure_shape, padding_events

__all__ = ["CONSUMERS", "ShapeResult", "run_bench"]

CONSUMERS = ("worker", "bare_faust", "bare_aiokafka")


def run_bench(
    events: int = 200_000,
    batch: int = 100,
    output: Path | None = None,
    *,
    case: str = "standard",
    partitions: int = 2,
    bootstrap: str | None = None,
    echo: Echo | None = None,
    latency: bool = True,
    repeat: int = 1,
) -> int:
    """Run the bench for ``case`` (or ``"all"``) and print the table; 0 when every consumer finished.
    ``repeat`` runs each consumer that many times over each backlog, in turns, and reports the best."""
    say: Echo = echo or (lambda text: print(text, flush=True))
    cases = _chosen_cases(case, events=events, batch=batch, partitions=partitions, repeat=repeat)
    given = bootstrap or os.environ.get("MONITOR_KAFKA_BOOTSTRAP")
    options = None
    # your broker: checked first (one error line if it lets no client in), then the bench's clients
    # use the same MONITOR_KAFKA_* security settings as the worker
    if given:
        settings = Settings()
        asyncio.run(check_broker(settings, given))
        options = kafka_client_options(settings)
    with (
        tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp,
        given_or_local_broker(given, Path(tmp) / "broker.log", say) as broker_bootstrap,
    ):
        workdir = Path(tmp)
        results = _measure_cases(
            broker_bootstrap, cases, events, batch, partitions, workdir, say, options, repeat
        )
        alert_latency = None
        if latency:
            say("event -> alert latency")
            alert_latency = measure_alert_latency(
                broker_bootstrap, workdir, say, client_options=options
            )
    _say_results(say, results, alert_latency, cases, repeat)
    if output is not None:
        _write_results(output, results, alert_latency, events, partitions, repeat)
        say(f"results written to {output}")
    return 0


def _chosen_cases(
    case: str, *, events: int, batch: int, partitions: int, repeat: int
) -> list[BenchCase]:
    """The cases ``case`` names, once the counts are known to be at least 1 (else a ConfigError)."""
    if events < 1 or batch < 1 or partitions < 1 or repeat < 1:
        raise ConfigError(
            f"events {events}, batch {batch}, partitions {partitions} and repeat {repeat} must "
            "all be at least 1"
        )
    if case != "all" and case not in CASES:
        raise ConfigError(f"bench case {case!r} is not one of {', '.join([*CASES, 'all'])}")
    return list(CASES.values()) if case == "all" else [CASES[case]]


def _measure_cases(
    bootstrap: str,
    cases: list[BenchCase],
    events: int,
    batch: int,
    partitions: int,
    workdir: Path,
    say: Echo,
    options: dict[str, Any] | None,
    repeat: int,
) -> list[ShapeResult]:
    """Each case in one-event and ``batch``-event messages, each shape padded behind its backlog."""
    results: list[ShapeResult] = []
    for bench_case in cases:
        most = max(padding_events(events, shape) for shape in (1, batch))
        generated = bench_events(bench_case, events + most, now=time.time())
        for shape in (1, batch):
            behind = generated[events : events + padding_events(events, shape)]
            results.append(
                measure_shape(
                    bootstrap,
                    bench_case,
                    generated[:events],
                    shape,
                    partitions,
                    workdir,
                    say,
                    options,
                    repeat,
                    padding=behind,
                )
            )
    return results


def _say_results(
    say: Echo,
    results: list[ShapeResult],
    alert_latency: LatencyResult | None,
    cases: list[BenchCase],
    repeat: int,
) -> None:
    """The table, then what it shows when ``repeat`` > 1, the alert latency and the cases' notes."""
    say("")
    say(format_table(results))
    if repeat > 1:
        say(
            f"rates and ratios: the best of {repeat} runs of each consumer (medians and every run "
            "in the JSON output)"
        )
    if alert_latency is not None:
        say(alert_latency.describe())
    for bench_case in cases:
        if bench_case.note:
            say(
                f"note: {bench_case.name} case ({bench_case.numeric} numeric + {bench_case.categorical} "
                f"categorical features): {bench_case.note}"
            )


def _write_results(
    output: Path,
    results: list[ShapeResult],
    alert_latency: LatencyResult | None,
    events: int,
    partitions: int,
    repeat: int,
) -> None:
    report = {
        "machine": machine(),
        "events": events,
        "partitions": partitions,
        "repeat": repeat,
        "results": [r.to_dict() for r in results],
        "alert_latency": alert_latency.to_dict() if alert_latency is not None else None,
    }
    Path(output).write_text(json.dumps(report, indent=2) + "\n")
