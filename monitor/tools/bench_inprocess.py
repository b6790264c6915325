"""``monitor bench --in-process``: the worker's own cost per event, without a broker or Faust.

The worker's blocking batch steps (:class:`~monitor.services.ingest.BatchIngest` ``prepare`` and
``write``: decode, validate, fold, drift histograms against seeded baselines, join and outcome
stage, shadow stage, the partials insert with its position check), its Prometheus bookkeeping
and the encoding of the detector values, wired as ``monitor worker`` wires them, with its garbage
collector settings (embedded store in a temporary directory, in-process join stores or, with
``join_store="redis"``, the configured Redis under an app id of the bench's own whose keys are
deleted afterwards, the configured embedder), over the bench's events in one-event and batched messages. CPU time is this
process's (chdb's own threads included) and, apart, that of the thread running the batch steps, so
other jobs on the machine move them less than the wall-clock rates of the broker runs: they are the
figures to compare commits with, and this is the run to profile
(``py-spy record -- python -m monitor.tools.bench_inprocess``).
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from monitor.errors import MonitorError
from monitor.tools.bench_data import CASES, bench_events, seed_baselines
from monitor.wording import counted

if TYPE_CHECKING:
    from monitor.folding.pipeline import BatchConfig, RawMessage
    from monitor.services.ingest import BatchIngest
    from monitor.settings import Settings
    from streams.wiring import Wiring

__all__ = ["InProcessResult", "least_events", "measure_in_process", "run_bench_in_process"]

REFERENCE_EVENTS = 2_000  # the baselines' reference events, as in the broker runs
JOIN_STORES = ("memory", "redis")
# Messages per batch of the two shapes measured: one event a message, and --batch events a message.
ONE_EVENT_MESSAGES = 1_000
BATCHED_MESSAGES = 200


def least_events(batch: int) -> int:
    """The fewest events a run takes with ``batch`` events a batched message: two batches of each
    shape, the first batch being left out of the figures.

    >>> least_events(100), least_events(1)
    (40000, 2000)
    """
    return 2 * max(ONE_EVENT_MESSAGES, batch * BATCHED_MESSAGES)


@dataclass(frozen=True)
class InProcessResult:
    case: str
    events_per_message: int
    messages_per_batch: int
    events: int
    seconds: float
    cpu_seconds: float  # the process's: chdb's own threads included
    written: int = 0  # inference events the store holds afterwards, the first batch's included
    thread_cpu_seconds: float = 0.0  # the thread that runs the batch steps, alone
    join_store: str = "memory"  # or "redis": MONITOR_REDIS_URL's

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_event(self) -> float:
        return 1e6 * self.cpu_seconds / self.events if self.events else 0.0

    @property
    def thread_us_per_event(self) -> float:
        return 1e6 * self.thread_cpu_seconds / self.events if self.events else 0.0


def measure_in_process(
    case: str,
    events: int,
    per_message: int,
    messages_per_batch: int,
    workdir: Path,
    join_store: str = "memory",
) -> InProcessResult:
    """Feed ``events`` bench events through the worker's batch steps; the first batch (imports,
    first use) is left out of the figures."""
    now = time.time()
    generated = bench_events(CASES[case], REFERENCE_EVENTS + events, now=now)
    settings, wiring = _seeded_wiring(generated[:REFERENCE_EVENTS], workdir, join_store)
    try:
        return _measure(
            case, generated[REFERENCE_EVENTS:], per_message, messages_per_batch, settings, wiring
        )
    finally:
        if join_store == "redis":
            _delete_bench_keys(settings)


def _measure(
    case: str,
    rest: list[dict[str, Any]],
    per_message: int,
    messages_per_batch: int,
    settings: Settings,
    wiring: Wiring,
) -> InProcessResult:
    from monitor.tools.worker import tune_gc

    steps = _batch_steps(wiring)
    values = [
        orjson.dumps(rest[i : i + per_message] if per_message > 1 else rest[i])
        for i in range(0, len(rest), per_message)
    ]
    tune_gc()  # the worker's collector settings, as monitor worker sets them after start-up
    counted, seconds, cpu, thread_cpu = _feed(steps, wiring, settings, values, messages_per_batch)
    written = wiring.store.query(
        f"SELECT sum(count) FROM {wiring.store.table('partials')} WHERE name = 'inference_events'"
    ).rows[0][0]
    wiring.close()  # every connection: chdb opens another directory only once all are closed
    if int(written or 0) != len(rest):  # a bench that loses events measures nothing
        raise MonitorError(f"the batch steps wrote {written} of {len(rest)} events")
    return InProcessResult(
        case,
        per_message,
        messages_per_batch,
        counted,
        seconds,
        cpu,
        int(written),
        thread_cpu,
        "redis" if settings.redis_dsn else "memory",
    )


def _seeded_wiring(
    reference: list[dict[str, Any]], workdir: Path, join_store: str
) -> tuple[Settings, Wiring]:
    """The worker's wiring on an embedded store in ``workdir`` whose baselines ``reference`` seeds,
    its store and join stores open."""
    from monitor.settings import Settings
    from streams.wiring import Wiring

    url = f"chdb://{workdir / 'store'}"
    seed_baselines(url, reference, workdir)
    if join_store == "redis":  # MONITOR_REDIS_URL's Redis, under keys of the bench's own
        settings = Settings(clickhouse_url=url, app_id=f"monitor-bench-{secrets.token_hex(6)}")
    else:  # in-process join stores, whatever MONITOR_REDIS_URL says
        settings = Settings(clickhouse_url=url, redis_url=None)
    wiring = Wiring.build(settings)
    wiring.open_store()
    wiring.open_join_store()
    return settings, wiring


def _delete_bench_keys(settings: Settings) -> int:
    """Delete the keys of the bench's own app id (its join and shadow stores) from Redis."""
    import redis

    from monitor.adapters.client_security import redis_client_options

    client = redis.Redis.from_url(settings.redis_dsn or "", **redis_client_options(settings))
    try:
        keys = list(client.scan_iter(match=f"{settings.app_id}:*", count=10_000))
        return sum(client.delete(*keys[i : i + 1000]) for i in range(0, len(keys), 1000))
    finally:
        client.close()


def _batch_steps(wiring: Wiring) -> BatchIngest:
    """The batch steps as ``monitor worker`` wires them."""
    from monitor.services.ingest import BatchIngest

    versions = wiring.versions
    assert versions is not None and wiring.outcome_stage is not None
    return BatchIngest(
        wiring.store, wiring.outcome_stage, [versions.fold_drift], wiring.shadow_stage, versions
    )


def _feed(
    steps: BatchIngest,
    wiring: Wiring,
    settings: Settings,
    values: list[bytes],
    messages_per_batch: int,
) -> tuple[int, float, float, float]:
    """``values`` through the batch steps, ``messages_per_batch`` at a time: the events after the
    first batch, and the wall-clock, process CPU and thread CPU seconds they took."""
    from monitor.detectors.values import split_to_fit
    from monitor.folding.pipeline import Position
    from streams.observe import record_batch_metrics, record_outcome_metrics

    offsets = [-1, -1]
    positions: dict[tuple[str, int], Position] = {}
    counted = 0
    started = cpu_started = thread_started = 0.0
    for first in range(0, len(values), messages_per_batch):
        raw = _raw_messages(values[first : first + messages_per_batch], offsets)
        out, outcomes = steps.prepare(raw, positions, _batch_config(settings), {})
        for detector_values in outcomes.values:
            split_to_fit(detector_values)
        steps.write(out, positions)
        positions.update(
            {src: Position(o.last_offset, o.watermark) for src, o in out.sources.items()}
        )
        record_batch_metrics(wiring.metrics, out)
        record_outcome_metrics(wiring.metrics, outcomes)
        if first == 0:
            started, cpu_started = time.perf_counter(), time.process_time()
            thread_started = time.thread_time()
        else:
            counted += sum(out.events.values())
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    thread_cpu = time.thread_time() - thread_started
    return counted, seconds, cpu, thread_cpu


def _raw_messages(values: list[bytes], offsets: list[int]) -> list[RawMessage]:
    """One batch's messages, alternating between two partitions whose last ``offsets`` it advances."""
    from monitor.folding.pipeline import RawMessage

    raw: list[RawMessage] = []
    for value in values:
        partition = len(raw) % 2
        offsets[partition] += 1
        raw.append(RawMessage("bench", partition, offsets[partition], value, "inference"))
    return raw


def _batch_config(settings: Settings) -> BatchConfig:
    """The worker's batch settings, with now as the batch's arrival time."""
    from monitor.folding.pipeline import BatchConfig

    return BatchConfig(
        settings.window_seconds,
        settings.allowed_lateness_seconds,
        settings.max_future_skew_seconds,
        time.time(),
        settings.max_message_bytes,
    )


def run_bench_in_process(
    *,
    events: int,
    batch: int,
    case: str,
    output: Path | None = None,
    echo: Callable[[str], None] = print,
    join_store: str = "memory",
) -> int:
    """Both shapes (one event per message in batches of 1,000 messages, ``batch`` events per message
    in batches of 200 messages) of each case; a table, and the results as JSON in ``output``."""
    cases = list(CASES) if case == "all" else [case]
    if case != "all" and case not in CASES:
        raise MonitorError(f"--case {case!r} is not one of {', '.join([*CASES, 'all'])}")
    if join_store not in JOIN_STORES:
        raise MonitorError(f"--join-store {join_store!r} is not one of {', '.join(JOIN_STORES)}")
    if join_store == "redis":
        from monitor.settings import Settings

        if not Settings().redis_dsn:
            raise MonitorError("--join-store redis measures MONITOR_REDIS_URL's Redis: set it")
    shapes = ((1, ONE_EVENT_MESSAGES), (batch, BATCHED_MESSAGES))
    least = least_events(batch)
    if events < least:
        raise MonitorError(
            f"--events {events} is too few for --in-process: at least {least:,} with --batch {batch}"
        )
    results = []
    for name in cases:
        for per_message, messages in shapes:
            echo(
                f"  {name}, {counted(per_message, 'event')} a message, {messages} messages per batch ..."
            )
            with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
                results.append(
                    measure_in_process(name, events, per_message, messages, Path(tmp), join_store)
                )
    echo(
        f"{'case':<9} {'join':<6} {'events/msg':>10} {'events/s':>10} {'CPU us/event':>13} "
        f"{'thread us/event':>16}"
    )
    for r in results:
        echo(
            f"{r.case:<9} {r.join_store:<6} {r.events_per_message:>10} {r.rate:>10,.0f} "
            f"{r.cpu_us_per_event:>13.1f} {r.thread_us_per_event:>16.1f}"
        )
    echo("CPU: the whole process's, chdb's threads included; thread: the batch steps' thread alone")
    if output is not None:
        document = [
            {
                **asdict(r),
                "rate": r.rate,
                "cpu_us_per_event": r.cpu_us_per_event,
                "thread_us_per_event": r.thread_us_per_event,
            }
            for r in results
        ]
        output.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
        echo(f"results written to {output}")
    return 0


if __name__ == "__main__":  # python -m monitor.tools.bench_inprocess [events] (for profilers)
    os.environ.setdefault("MONITOR_LOG_LEVEL", "warning")
    sys.exit(
        run_bench_in_process(
            events=int(sys.argv[1]) if len(sys.argv) > 1 else 60_000, batch=100, case="standard"
        )
    )
