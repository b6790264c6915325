"""One consumed batch from messages to the store, inside the ingest boundary.

Every message of a batch is either written or dead-lettered with a reason, and the batch always
goes on:

- processing raises on a message: it is dead-lettered ``internal_error`` (:mod:`.isolation`);
- the store or an encoder refuses the batch (not an outage): trial inserts into a Null table find
  the message(s) responsible, which are dead-lettered ``unwritable`` with the error, and the rest is
  written; a refusal no message explains is retried a few times, then the batch is dead-lettered;
- an outage or a timeout (the store, Redis, the broker) is retried with capped exponential backoff,
  as long as it lasts, and shows in :class:`IngestHealth`; a stop request ends the wait at once
  with :class:`IngestStopped` (the batch is not written, so its offsets must not be committed);
- a store that refuses our credentials or a command (:class:`StoreRefused`: no retry fixes it and
  no message is to blame) is raised at once: the batch is neither written nor dead-lettered, and
  its offsets must not be committed either.

The steps are blocking (:class:`BatchIngest`); :func:`ingest_batch` drives them from asyncio.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.join_store import MemoryJoinStore
from monitor.contract.decode import Rejection
from monitor.contract.reasons import INTERNAL_ERROR
from monitor.detectors.values import DetectorValues
from monitor.errors import MonitorError, PositionMoved, StoreError, StoreRefused, is_retryable
from monitor.folding.pipeline import (
    BatchConfig,
    BatchOutput,
    InferenceFold,
    Position,
    RawMessage,
    process_batch,
)
from monitor.services.drift import sample_records
from monitor.services.isolation import (
    MessageKey,
    isolate,
    message_key,
    process_isolating,
    refused_feedback,
    unwritable_rejection,
)
from monitor.services.outcomes import OutcomeResult, OutcomeStage
from monitor.services.shadow import ShadowStage
from monitor.services.versions import VersionStates
from monitor.wording import counted

__all__ = [
    "BatchIngest",
    "IngestHealth",
    "IngestResult",
    "IngestStopped",
    "RetryPolicy",
    "ingest_batch",
    "run_blocking",
]

log = logging.getLogger("monitor.tools.worker")
T = TypeVar("T")
Positions = Mapping[tuple[str, int], Position]


class IngestStopped(MonitorError):
    """The worker is stopping while a batch is not written: exit without committing its offsets."""


@dataclass
class IngestHealth:
    """What ``/health`` says about ingestion: ``ok``, ``degraded`` (failing for less than
    ``failing_after`` seconds) or ``failing`` (longer: HTTP 503).

    >>> h = IngestHealth(failing_after=60)
    >>> h.batch_failed(100.0, "store down"); h.report(130.0)[0]["status"], h.report(161.0)[1]
    ('degraded', 503)
    >>> h.batch_written(170.0, 5); h.report(170.0)[0]["status"], h.report(170.0)[0]["consecutive_failures"]
    ('ok', 0)
    >>> h.batch_written(171.0, 3); h.report(171.0)[0]["events_written"]
    8
    >>> body, status = h.report(300.0, broker_answered_at=200.0)  # no fetch answer for 100 s
    >>> body["status"], status, body["last_error"]
    ('failing', 503, 'no fetch answer from the broker for 100 s')
    """

    failing_after: float = 60.0
    first_batch_at: float | None = None  # when this process began its first batch
    last_batch_at: float | None = None
    last_write_at: float | None = None
    consecutive_failures: int = 0
    failing_since: float | None = None
    last_error: str | None = None
    events_written: int = 0  # events (late and resent ones included) of the batches written

    def batch_started(self, now: float) -> None:
        self.first_batch_at = self.first_batch_at or now
        self.last_batch_at = now

    def batch_written(self, now: float, events: int = 0) -> None:
        self.last_write_at = now
        self.events_written += events
        self.consecutive_failures = 0
        self.failing_since = None

    def batch_failed(self, now: float, error: str) -> None:
        self.consecutive_failures += 1
        self.failing_since = self.failing_since or now
        self.last_error = error[:500]

    def report(
        self, now: float, broker_answered_at: float | None = None
    ) -> tuple[dict[str, Any], int]:
        """The JSON body and HTTP status of ``/health``. ``broker_answered_at``: the oldest of the
        last fetch answers of the source partitions (the broker answers an idle partition's fetch
        too); silent for longer than ``failing_after``, the worker is failing: it cannot read."""
        failing_for = now - self.failing_since if self.failing_since is not None else 0.0
        silent_for = now - broker_answered_at if broker_answered_at is not None else 0.0
        broker_silent = silent_for > self.failing_after
        status = (
            "failing"
            if broker_silent
            else "ok"
            if self.failing_since is None
            else "degraded"
            if failing_for < self.failing_after
            else "failing"
        )
        last_error = self.last_error if self.failing_since is not None else None
        if broker_silent and last_error is None:
            last_error = f"no fetch answer from the broker for {silent_for:.0f} s"
        body = {
            "status": status,
            "first_batch_at": self.first_batch_at,
            "last_batch_at": self.last_batch_at,
            "last_write_at": self.last_write_at,
            "events_written": self.events_written,
            "consecutive_failures": self.consecutive_failures,
            "failing_for_seconds": round(failing_for, 3),
            "broker_answered_at": broker_answered_at,
            "last_error": last_error,
        }
        return body, 503 if status == "failing" else 200


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: float = 0.5
    max_delay: float = 10.0
    unexplained_attempts: int = 3  # refusals no message explains before the batch is dead-lettered

    def delay(self, failures: int) -> float:
        """Seconds before attempt ``failures + 1``.

        >>> [RetryPolicy().delay(n) for n in (1, 2, 3, 10)]
        [0.5, 1.0, 2.0, 10.0]
        """
        return min(self.max_delay, self.first_delay * 2 ** min(failures - 1, 30))


@dataclass
class IngestResult:
    out: BatchOutput
    outcomes: OutcomeResult
    rows: int
    attempts: int = 1


@dataclass
class BatchIngest:
    """The blocking steps of one batch (run them on the store thread)."""

    store: ClickHouseStore
    outcome_stage: OutcomeStage
    folds: Sequence[InferenceFold] = field(default_factory=tuple)
    shadow_stage: ShadowStage | None = (
        None  # pairs shadow answers with production's (monitor.services.shadow)
    )
    versions: VersionStates | None = (
        None  # versions not held yet: baselines read, drift folded in prepare
    )
    logs_for: Callable[[BatchOutput], Mapping[tuple[str, int], tuple[int, str]]] | None = (
        None  # epoch, identity
    )

    def prepare(
        self,
        raw: Sequence[RawMessage],
        positions: Positions,
        config: BatchConfig,
        excluded: Mapping[MessageKey, Rejection],
    ) -> tuple[BatchOutput, OutcomeResult]:
        # resends are told by the join store's inferences (monitor.folding.resends)
        stored = self.outcome_stage.join_store.stored_inferences
        out = process_isolating(raw, positions, config, self.folds, excluded, stored)
        if self.versions is not None:
            new = self.versions.untracked(out)
            if new:
                loaded = self.versions.fetch(new)
                self.versions.apply(loaded)
                self.versions.fold_loaded(out, loaded, config.window_seconds)
        result = self.outcome_stage.process(out, config.now)
        if result.refused:  # over the feedback bound of their request: dead-lettered, not counted
            out.rejections += refused_feedback(raw, result.refused)
        if self.shadow_stage is not None:
            self.shadow_stage.process(out, config.now)
        return out, result

    def write(self, out: BatchOutput, positions: Positions) -> int:
        """One insert, only if every source is still where ``positions`` said (else PositionMoved)."""
        expected = {
            src: (positions[src].epoch, positions[src].last_offset) if src in positions else (0, -1)
            for src in out.sources
        }
        return self.store.write_batch(
            {src: (o.last_offset, o.watermark, o.partials) for src, o in out.sources.items()},
            self.logs_for(out) if self.logs_for is not None else None,
            expected,
        )

    def find_unwritable(
        self,
        raw: Sequence[RawMessage],
        positions: Positions,
        config: BatchConfig,
        excluded: Mapping[MessageKey, Rejection],
    ) -> dict[MessageKey, Rejection]:
        """The messages whose contribution the store or an encoder refuses, found by trial inserts."""
        sources = {(m.topic, m.partition) for m in raw}
        try:  # offset markers alone: if the store refuses those, no message is to blame
            self.store.probe_batch({src: (0, 0.0, []) for src in sources})
        except StoreRefused:
            raise
        except StoreError as exc:
            raise StoreError(
                f"the store refuses even an empty batch: {exc}", retryable=True
            ) from exc
        fresh = [m for m in raw if message_key(m) not in excluded]
        _, bad = isolate(fresh, lambda part: self._trial(part, positions, config))
        return {message_key(m): unwritable_rejection(m, exc) for m, exc in bad}

    def _trial(self, part: Sequence[RawMessage], positions: Positions, config: BatchConfig) -> None:
        """Everything ``part`` adds, encoded as for real, kept nowhere."""
        out = process_batch(part, positions, config, self.folds)
        scratch = OutcomeStage(
            MemoryJoinStore(max_feedback=self.outcome_stage.join_store.max_feedback),
            window_seconds=self.outcome_stage.window,
            segment_keys=self.outcome_stage.segment_keys,
            covariates=self.outcome_stage.covariates,
            max_segment_values=self.outcome_stage.max_segment_values,
        )
        scratch.process(out, config.now)
        if self.shadow_stage is not None:
            ShadowStage(MemoryJoinStore(), window_seconds=self.shadow_stage.window).process(
                out, config.now
            )
        for *_, record in sample_records(out.inferences):
            orjson.dumps(record)
        self.store.probe_batch(
            {src: (o.last_offset, o.watermark, o.partials) for src, o in out.sources.items()}
        )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


async def ingest_batch(
    raw: Sequence[RawMessage],
    steps: BatchIngest,
    *,
    config_for: Callable[[], BatchConfig],
    positions_for: Callable[[set[tuple[str, int]]], Awaitable[Positions]],
    send_dead_letters: Callable[[list[tuple[RawMessage, Rejection]], float], Awaitable[None]],
    blocking: Callable[..., Awaitable[Any]],
    sleep: Callable[[float], Awaitable[Any]],
    stopping: Callable[[], bool],
    health: IngestHealth,
    on_failure: Callable[[], None] = lambda: None,
    send_values: Callable[[list[DetectorValues]], Awaitable[None]] | None = None,
    policy: RetryPolicy = RetryPolicy(),
) -> IngestResult:
    """Write ``raw`` (dead letters and detector values first), retrying outages; raises only
    :class:`IngestStopped`, and :class:`StoreRefused` at the first refusal (nothing of the batch
    written, no message dead-lettered for it). Detector values are sent before the insert, so a
    crash cannot lose them; a batch sent again is fed once (their owner skips offsets it fed)."""
    excluded: dict[MessageKey, Rejection] = {}
    sent: set[tuple[MessageKey, int]] = set()
    failures = waits = unexplained = moved = 0
    sources = {(m.topic, m.partition) for m in raw}
    health.batch_started(time.time())
    while True:
        if stopping():
            raise IngestStopped(f"stop requested; batch of {len(raw)} messages not written")
        config = config_for()
        positions: Positions | None = None
        try:
            positions = await positions_for(sources)
            out, outcomes = await blocking(steps.prepare, raw, positions, config, excluded)
            new = [(m, r) for m, r in out.rejections if (message_key(m), r.index) not in sent]
            await send_dead_letters(new, config.now)
            sent.update((message_key(m), r.index) for m, r in new)
            if send_values is not None and outcomes.values:
                await send_values(outcomes.values)
            rows = await blocking(steps.write, out, positions)
        except IngestStopped:
            raise
        except StoreRefused as exc:  # a configuration error, not the data's nor an outage: stop
            on_failure()
            health.batch_failed(time.time(), _describe(exc))
            raise
        except (
            PositionMoved
        ) as exc:  # written meanwhile (a lost answer, another writer): prepare it again
            on_failure()  # forgets the cached positions and the batch's outcome state
            moved += 1
            log.warning("batch not written: %s; re-reading the positions (attempt %d)", exc, moved)
            if moved > 1:
                await sleep(policy.delay(moved - 1))
            continue
        except Exception as exc:  # noqa: BLE001 - the boundary: classify, attribute, never crash the agent
            on_failure()
            failures += 1
            health.batch_failed(time.time(), _describe(exc))
            if not is_retryable(exc) and positions is not None:
                found, exc = await _attribute(
                    steps, raw, positions, config, excluded, blocking, exc
                )
                if found:
                    log.error(
                        "%s of the batch cannot be written; dead-lettering them: %s",
                        counted(len(found), "message"),
                        next(iter(found.values())).detail,
                    )
                    excluded.update(found)
                    continue
                unexplained += not is_retryable(exc)
                left = [m for m in raw if message_key(m) not in excluded]
                if unexplained >= policy.unexplained_attempts and left:
                    log.error(
                        "batch refused %d times and no single message explains it; dead-lettering its "
                        "%s: %s",
                        unexplained,
                        counted(len(left), "message"),
                        _describe(exc),
                    )
                    detail = f"batch refused {unexplained} times, no single message explains it: {_describe(exc)}"
                    excluded.update(
                        {
                            message_key(m): Rejection(
                                INTERNAL_ERROR, "", detail[:300], -1, m.value or b""
                            )
                            for m in left
                        }
                    )
                    continue
            waits += 1
            delay = policy.delay(waits)
            log.error(
                "batch not written (attempt %d), retrying in %.1f s: %s",
                failures,
                delay,
                _describe(exc),
            )
            await sleep(delay)
            continue
        landed = sum(out.events.values()) + sum(out.late.values()) + sum(out.resent.values())
        health.batch_written(time.time(), landed)
        return IngestResult(out, outcomes, rows, failures + moved + 1)


async def _attribute(
    steps: BatchIngest,
    raw: Sequence[RawMessage],
    positions: Positions,
    config: BatchConfig,
    excluded: Mapping[MessageKey, Rejection],
    blocking: Callable[..., Awaitable[Any]],
    error: Exception,
) -> tuple[dict[MessageKey, Rejection], Exception]:
    """The unwritable messages (or none, and the error that explains why not)."""
    try:
        return await blocking(steps.find_unwritable, raw, positions, config, excluded), error
    except (IngestStopped, StoreRefused):
        raise
    except Exception as exc:  # noqa: BLE001 - the trial itself failed: an outage, or a store problem
        return {}, exc


async def run_blocking(
    executor: Executor,
    stopping: Callable[[], bool],
    fn: Callable[..., T],
    *args: Any,
    grace: float = 3.0,
) -> T:
    """``fn(*args)`` on ``executor``; once a stop is requested, wait at most ``grace`` seconds more."""
    future = asyncio.get_running_loop().run_in_executor(executor, fn, *args)
    waited = 0.0
    while True:
        done, _ = await asyncio.wait({future}, timeout=0.25)
        if done:
            return future.result()
        if stopping():
            waited += 0.25
            if waited >= grace:
                raise IngestStopped(
                    f"{getattr(fn, '__name__', fn)} did not return within {grace:.0f} s of the stop"
                )
