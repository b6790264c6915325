"""Run generated and mutated batches through the worker's ingest steps and check its promises.

The path is the worker's, minus Kafka: :func:`monitor.services.ingest.ingest_batch` with
``process_batch`` behind the ingest boundary, drift folds against baselines, the outcome stage with
the in-process join store, dead-letter records, and the insert into embedded ClickHouse. After every
batch:

- no exception escaped;
- every rejection has a reason and a message, and its dead-letter record encodes;
- every event of a message is accepted or rejected, never both, never silently dropped;
- every valid, unmutated event (a control) is accepted;
- the store holds exactly the events accepted so far.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.join_store import MemoryJoinStore
from monitor.catalogue import WINDOW_METRICS
from monitor.contract.decode import Rejection
from monitor.contract.dlq import dead_letter_record
from monitor.drift.baseline import Baseline, build_baseline
from monitor.drift.windows import fold_drift
from monitor.folding.pipeline import BatchConfig, BatchOutput, FoldColumns, Position, RawMessage
from monitor.services.ingest import BatchIngest, IngestHealth, ingest_batch
from monitor.services.outcomes import OutcomeStage
from monitor.tools.fuzz.messages import (
    MODELS,
    VERSIONS,
    FuzzMessage,
    generate_message,
    valid_inference,
)

__all__ = ["FuzzHarness", "FuzzReport"]

# every accepted event is counted once: the catalogue's window counts (on time, late, resent) and
# shadow inferences as traffic of their own version
COUNT_NAMES = (*(m.name for m in WINDOW_METRICS if m.kind == "count"), "shadow:events")
_REASON = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass
class FuzzReport:
    seed: int
    messages: int = 0
    batches: int = 0
    shapes: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    escaped: int = 0
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.escaped and not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "messages": self.messages,
            "batches": self.batches,
            "shapes": dict(self.shapes),
            "events_accepted": self.accepted,
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "rejected": sum(self.rejected.values()),
            "exceptions_escaped": self.escaped,
            "invariant_violations": len(self.violations),
            "first_violations": self.violations[:5],
            "seconds": round(self.seconds, 1),
            "messages_per_second": round(self.messages / self.seconds) if self.seconds else None,
        }


def _baselines(rng: random.Random, now: float) -> dict[tuple[str, str], tuple[str, Baseline]]:
    out = {}
    for model in MODELS:
        for version in VERSIONS:
            records = [valid_inference(rng, f"ref{i}", now) for i in range(200)]
            out[(model, version)] = (
                f"fuzz-{version}",
                build_baseline(model, version, records, now=now),
            )
    return out


class FuzzHarness:
    """One store, one join store, offsets that go on across batches; ``run(n)`` adds to the report."""

    def __init__(
        self, store: ClickHouseStore, seed: int = 1, *, partitions: int = 2, prefix: str = "fuzz"
    ) -> None:
        self.store = store
        self.rng = random.Random(seed)
        self.now = time.time()
        self.report = FuzzReport(seed)
        self.topics = {"inference": f"{prefix}.inference", "feedback": f"{prefix}.feedback"}
        self.partitions = partitions
        self.offsets: Counter[tuple[str, int]] = Counter()
        self.request_ids: list[str] = []
        self.baselines = _baselines(random.Random(seed + 1), self.now)
        stage = OutcomeStage(MemoryJoinStore(), window_seconds=60, segment_keys=("region",))
        self.steps = BatchIngest(store, stage, [self._fold_drift])
        self.health = IngestHealth()
        self.dead: list[tuple[RawMessage, Rejection]] = []
        self.positions: dict[
            tuple[str, int], Position
        ] = {}  # like the worker: read once, then kept

    def _fold_drift(self, events: Sequence[Any], columns: FoldColumns, window: int) -> list[Any]:
        return fold_drift(
            self.baselines,
            [e.features for e in events],
            [e.input_text for e in events],
            columns.starts,
            columns.models,
            columns.versions,
            columns.times,
            window,
            grouped=columns.grouped,
        )

    def next_batch(
        self, size: int, rng: random.Random | None = None
    ) -> list[tuple[RawMessage, FuzzMessage]]:
        """``size`` generated messages, placed on the topics' partitions (``rng``: the harness's own)."""
        rng = rng or self.rng
        messages: list[FuzzMessage] = []
        for _ in range(size):
            kind = "inference" if rng.random() < 0.6 else "feedback"
            messages.append(
                generate_message(
                    rng,
                    kind,
                    self.report.messages + len(messages),
                    now=self.now,
                    request_ids=self.request_ids,
                )
            )
            del self.request_ids[:-2000]
        return self.place(messages, rng)

    def place(
        self,
        messages: Sequence[FuzzMessage],
        rng: random.Random | None = None,
    ) -> list[tuple[RawMessage, FuzzMessage]]:
        """Give each message the next offset of a partition of its kind's topic."""
        rng = rng or self.rng
        batch = []
        for message in messages:
            source = (self.topics[message.kind], rng.randrange(self.partitions))
            offset = self.offsets[source]
            self.offsets[source] += 1
            batch.append(
                (RawMessage(source[0], source[1], offset, message.value, message.kind), message)
            )
            self.report.messages += 1
            self.report.shapes[message.shape] += 1
        return batch

    def run_batch(self, batch: list[tuple[RawMessage, FuzzMessage]]) -> None:
        raw = [m for m, _ in batch]
        self.dead = []
        self.report.batches += 1
        try:
            result = asyncio.run(self._ingest(raw))
        except Exception as exc:  # noqa: BLE001 - exactly what the fuzz counts
            self.report.escaped += 1
            self.report.violations.append(
                f"batch {self.report.batches}: escaped {exc!r}\n{traceback.format_exc()}"
            )
            return
        self._check(batch, result.out)

    async def _ingest(self, raw: list[RawMessage]) -> Any:
        async def positions_for(sources: set[tuple[str, int]]) -> dict[tuple[str, int], Position]:
            for src in sources - self.positions.keys():
                self.positions[src] = Position(*self.store.read_position(*src))
            return self.positions

        async def send(rejections: list[tuple[RawMessage, Rejection]], now: float) -> None:
            self.dead += rejections

        async def blocking(fn: Any, *args: Any) -> Any:
            return fn(*args)

        async def sleep(seconds: float) -> None:
            raise RuntimeError(f"the batch was retried as an outage: {self.health.last_error}")

        config = BatchConfig(
            window_seconds=60, allowed_lateness=600, max_future_skew=300, now=self.now
        )
        result = await ingest_batch(
            raw,
            self.steps,
            config_for=lambda: config,
            positions_for=positions_for,
            send_dead_letters=send,
            blocking=blocking,
            sleep=sleep,
            stopping=lambda: False,
            health=self.health,
            on_failure=self.positions.clear,
        )
        for src, o in result.out.sources.items():
            self.positions[src] = Position(o.last_offset, o.watermark)
        return result

    def _check(self, batch: list[tuple[RawMessage, FuzzMessage]], out: BatchOutput) -> None:
        accepted: dict[tuple[str, int, int], list[int]] = {}
        for (topic, partition), source in out.sources.items():
            for event_id in [
                *source.event_ids,
                *source.shadow_ids,
                *source.resent_ids,
            ]:  # shadow inferences and resends are accepted too
                offset, index = (int(x) for x in event_id.rsplit(":", 2)[1:])
                accepted.setdefault((topic, partition, offset), []).append(index)
        rejected: dict[tuple[str, int, int], list[int]] = {}
        for message, rejection in self.dead:
            rejected.setdefault((message.topic, message.partition, message.offset), []).append(
                rejection.index
            )
            self._check_rejection(message, rejection)
        for message, spec in batch:
            key = (message.topic, message.partition, message.offset)
            self._check_message(spec, key, accepted.get(key, []), rejected.get(key, []))
        landed = (out.events, out.late, out.resent)  # resends land as counts of their own
        self.report.accepted += sum(n for counts in landed for n in counts.values())
        stored = self.store.query(
            f"SELECT sum(count) FROM {self.store.table('partials')} "
            "WHERE has({names:Array(String)}, name)",
            {"names": list(COUNT_NAMES)},
        ).rows[0][0]
        if int(stored or 0) != self.report.accepted:
            self._violation(f"store holds {stored} events, {self.report.accepted} were accepted")

    def _check_rejection(self, message: RawMessage, rejection: Rejection) -> None:
        self.report.rejected[rejection.reason] += 1
        if not _REASON.match(rejection.reason) or not rejection.detail:
            self._violation(f"rejection without a reason or a message: {rejection!r:.300}")
        record = orjson.loads(
            dead_letter_record(
                message.topic, message.partition, message.offset, message.kind, rejection, self.now
            )
        )
        if record["reason"] != rejection.reason or not record["error"]:
            self._violation(f"dead-letter record lost the reason: {record!r:.300}")

    def _check_message(
        self, spec: FuzzMessage, key: tuple[str, int, int], ok: list[int], bad: list[int]
    ) -> None:
        where = (
            f"{spec.shape} message {key}: accepted {sorted(ok)[:10]}, rejected {sorted(bad)[:10]}"
        )
        if len(set(ok)) != len(ok) or len(set(bad)) != len(bad) or set(ok) & set(bad):
            self._violation(f"{where}: an event counted twice")
        if -1 in bad and (ok or len(bad) > 1):
            self._violation(f"{where}: a message rejected whole and in parts")
        elements = spec.elements if spec.elements is not None else _elements(spec.value)
        if elements is None:
            if not ok and not bad:
                self._violation(f"{where}: a message neither accepted nor rejected")
        elif bad != [-1] and set(ok) | set(bad) != set(range(elements)):
            self._violation(f"{where}: {elements} events, not all accounted for")
        if not set(spec.controls) <= set(ok):
            why = [
                f"{r.index}: {r.reason} {r.message}"[:200]
                for m, r in self.dead
                if (m.topic, m.partition, m.offset) == key
            ]
            self._violation(
                f"{where}: valid events {sorted(set(spec.controls) - set(ok))} rejected ({why[:3]})"
            )

    def _violation(self, text: str) -> None:
        self.report.violations.append(f"batch {self.report.batches}: {text}")


def _elements(raw: bytes) -> int | None:
    """Events in a message as the stdlib reads it; None when it cannot say."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return len(value) if isinstance(value, list) else 1


def run_fuzz(
    messages: int = 100_000,
    seed: int = 1,
    batch: int = 500,
    output: str | None = None,
    store_url: str | None = None,
    echo: Any = None,
) -> FuzzReport:
    """Fuzz ``messages`` messages in batches of ``batch``; print progress and the report."""
    import tempfile
    from pathlib import Path

    say = echo or (lambda text: print(text, flush=True))
    with tempfile.TemporaryDirectory(prefix="monitor-fuzz-") as tmp:
        store = ClickHouseStore(store_url or f"chdb://{Path(tmp) / 'store'}").connect()
        store.migrate()
        harness = FuzzHarness(store, seed)
        started = time.perf_counter()
        next_line = started + 5.0
        while harness.report.messages < messages:
            harness.run_batch(harness.next_batch(min(batch, messages - harness.report.messages)))
            if time.perf_counter() >= next_line:
                r = harness.report
                say(
                    f"  {r.messages:>9,} messages, {r.accepted:,} events accepted, {sum(r.rejected.values()):,} "
                    f"rejected, {r.escaped} escaped, {len(r.violations)} violations"
                )
                next_line += 5.0
        harness.report.seconds = time.perf_counter() - started
        if store_url is None:
            store.close()
    report = harness.report.to_dict()
    say(json.dumps(report, indent=2, ensure_ascii=False))
    for violation in harness.report.violations[:5]:
        say(violation)
    if output:
        Path(output).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return harness.report


def main(argv: list[str] | None = None) -> int:
    """Fuzz the batch path; exit 1 if an exception escaped or a promise was broken."""
    import argparse

    parser = argparse.ArgumentParser(prog="monitor fuzz", description=main.__doc__)
    parser.add_argument("--messages", type=int, default=100_000, help="messages to generate")
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of the generator (a run is reproducible)"
    )
    parser.add_argument("--batch", type=int, default=500, help="messages per consumed batch")
    parser.add_argument("--output", help="also write the report as JSON here")
    args = parser.parse_args(argv)
    return 0 if run_fuzz(args.messages, args.seed, args.batch, args.output).ok else 1
