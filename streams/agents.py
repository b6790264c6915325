"""The ingest agent: decode a batch, call the core, hand results to the store and the dead-letter topic.

Exactly-once aggregates: each batch's partials and the offsets they cover go to ClickHouse in one
insert; after a crash the consumer replays from its last commit and ``process_batch`` skips every
message at or below the offset already in the store, once the broker confirmed that offset still
counts in the same log (``streams.positions``).

``StoreCalls`` runs blocking store calls off the event loop, ``DeadLetters`` delivers a batch's
rejections, ``IngestAgent`` handles each batch; ``register_agents`` only wires them to Faust and
the source consumer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, NoReturn, TypeVar

import faust
from mode import Service

from monitor.adapters.client_security import kafka_client_options
from monitor.adapters.kafka_refusals import read_refusal, send_failure
from monitor.adapters.prometheus_metrics import MonitorMetrics
from monitor.adapters.topics import ensure_topics
from monitor.contract.decode import Rejection
from monitor.contract.dlq import dead_letter_key, dead_letter_record
from monitor.contract.events import InferenceEvent
from monitor.detectors.values import DetectorValues
from monitor.errors import MonitorError, StoreRefused
from monitor.folding.partials import Partial
from monitor.folding.pipeline import BatchConfig, BatchOutput, FoldColumns, Position, RawMessage
from monitor.services.drift import sample_records
from monitor.services.ingest import (
    BatchIngest,
    IngestResult,
    IngestStopped,
    ingest_batch,
    run_blocking,
)
from monitor.services.outcomes import OutcomeStage
from monitor.services.versions import VersionStates
from monitor.wording import counted
from streams.delivery import declare_output_topics, delivered, output_topic
from streams.detector_agent import register_detector_agent, value_sender
from streams.judge_forward import judge_forwarder
from streams.observe import record_batch_metrics, record_outcome_metrics
from streams.positions import SourcePositions
from streams.source_consumer import SourceConsumer
from streams.wiring import Wiring

__all__ = ["EXIT_REFUSED", "EXIT_UNWRITTEN", "exit_refused", "register_agents"]

log = logging.getLogger("monitor.tools.worker")
EXIT_UNWRITTEN = (
    75  # stopped with a batch not written: its offsets are not committed, it is read again
)

# a store refused the credentials or a command: a configuration error, as at start (`error:`, 2)
EXIT_REFUSED = 2

T = TypeVar("T")
Source = tuple[str, int]


def register_agents(app: faust.App, wiring: Wiring) -> IngestService:
    """Register the detector agent, the ingest path and its hooks; return the ingest service for
    the app to start."""
    s, m = wiring.settings, wiring.metrics
    dlq = output_topic(app, s, s.dlq_topic)
    values_topic = app.topic(
        s.detector_values_topic,
        partitions=s.partitions,
        value_serializer="raw",
        key_serializer="raw",
    )
    store_calls = StoreCalls(app, wiring)
    register_detector_agent(app, wiring, values_topic, store_calls.blocking, EXIT_UNWRITTEN)
    send_values = value_sender(values_topic)
    forward_to_judge = judge_forwarder(app, wiring)  # None unless judging is configured
    positions = SourcePositions(
        store_calls.stored_position, wiring.open_source_log(), m, wiring.positions
    )
    agent = IngestAgent(
        app, wiring, store_calls, positions, DeadLetters(dlq, m), send_values, forward_to_judge
    )
    source = SourceConsumer(
        s, kafka_client_options(s), agent.timed_handle, on_assigned=positions.forget
    )
    wiring.log_ends = source.log_ends  # the consumer lag timer reads them
    wiring.broker_answered_at = source.broker_answered_at  # /health reads it
    ingest_service = IngestService(app, source)
    app.on_partitions_assigned.connect(agent.forget_detector_state)  # type: ignore[arg-type]  # faust passes assigned= by keyword
    app.on_before_shutdown.connect(agent.close_source_log)  # type: ignore[arg-type]  # faust's receiver type wants signal=
    return ingest_service


class StoreCalls:
    """The store is blocking: its calls run on the worker's executor, off the event loop, and are
    given up on when the worker stops."""

    def __init__(self, app: faust.App, wiring: Wiring) -> None:
        self.app, self.wiring = app, wiring

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run one blocking call off the event loop; ``IngestStopped`` once the worker stops."""
        return await run_blocking(self.wiring.executor, lambda: self.app.should_stop, fn, *args)

    async def stored_position(self, topic: str, partition: int) -> Position:
        """The position of a source partition as written in the store."""
        return await self.blocking(self.wiring.store.position, topic, partition)


class DeadLetters:
    """Sends a batch's rejected messages to the dead-letter topic, delivered before it returns
    (before the batch's offsets are written), and counts them once delivered."""

    def __init__(self, topic: faust.TopicT, metrics: MonitorMetrics) -> None:
        self.topic, self.metrics = topic, metrics

    async def send(self, rejections: Sequence[tuple[RawMessage, Rejection]], now: float) -> None:
        """Send and log every rejection, await every delivery, then count them; any failure to
        deliver is a ``BrokerError`` (retried), a refusal of the worker's principal a
        ``BrokerRefused`` (the worker stops)."""
        try:
            pending = [
                await self._send_one(message, rejection, now) for message, rejection in rejections
            ]
            await delivered(pending)  # before the batch's offsets are written
        except Exception as exc:
            raise send_failure(exc, "dead letters", self.topic.get_topic_name()) from exc
        for message, rejection in rejections:
            self.metrics.rejected.labels(kind=message.kind, reason=rejection.reason).inc()
        self.metrics.dlq.inc(len(pending))

    async def _send_one(self, message: RawMessage, rejection: Rejection, now: float) -> Any:
        """Hand one dead letter to the producer and log it; return its delivery future."""
        record = dead_letter_record(
            message.topic, message.partition, message.offset, message.kind, rejection, now
        )
        key = dead_letter_key(message.topic, message.partition, message.offset, rejection.index)
        future = await self.topic.send(key=key, value=record)
        log.warning(
            "rejected %s %s/%d@%d[%d]: %s",
            message.kind,
            message.topic,
            message.partition,
            message.offset,
            rejection.index,
            rejection.message,
        )
        return future


class IngestAgent:
    """The ingest path of one worker: each batch written with its dead letters, detector values
    and offsets, then its new versions sampled, its records forwarded to the judge, the source
    positions advanced and the batch's metrics exported."""

    def __init__(
        self,
        app: faust.App,
        wiring: Wiring,
        store_calls: StoreCalls,
        positions: SourcePositions,
        dead_letters: DeadLetters,
        send_values: Callable[[Sequence[DetectorValues]], Awaitable[None]],
        forward_to_judge: Callable[[BatchOutput], Awaitable[None]] | None,
    ) -> None:
        self.app, self.wiring = app, wiring
        self.settings, self.metrics = wiring.settings, wiring.metrics
        self.blocking = store_calls.blocking
        self.positions = positions
        self.dead_letters = dead_letters
        self.send_values = send_values
        self.forward_to_judge = forward_to_judge

    async def timed_handle(self, raw: list[RawMessage]) -> None:
        """Handle one batch and observe how long it took (a batch that raises is not observed)."""
        started = time.perf_counter()
        await self.handle(raw)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)

    async def handle(self, raw: list[RawMessage]) -> None:
        """Write one batch, then sample, forward and export it; exit the process unwritten
        (``EXIT_UNWRITTEN``) if the worker stops first, or (``EXIT_REFUSED``) if a store refuses
        the credentials or a command."""
        stage = self._outcome_stage()
        try:  # never ack what is not written: outages are retried until they end or the worker stops
            result = await self._write(raw, stage)
            await self._sample_new_versions(result.out)
            if self.forward_to_judge is not None:
                await self.forward_to_judge(result.out)
        except IngestStopped as exc:
            _exit_unwritten(len(raw), exc)
        except StoreRefused as exc:
            exit_refused(
                exc,
                f"a batch of {counted(len(raw), 'message')} not written, none dead-lettered, its offsets not "
                "committed: it is read again at the next start",
            )
        self._advance(result)

    async def _write(self, raw: list[RawMessage], stage: OutcomeStage) -> IngestResult:
        """Ingest the batch through the core: dead letters delivered and detector values sent
        before its insert, retried until written; ``IngestStopped`` once the worker stops."""
        w = self.wiring
        return await ingest_batch(
            raw,
            BatchIngest(
                w.store,
                stage,
                [self._fold_drift_histograms],
                w.shadow_stage,
                w.versions,
                self.positions.logs,
            ),
            config_for=self._batch_config,
            positions_for=partial(self._positions_and_baselines, raw),
            send_dead_letters=self.dead_letters.send,
            blocking=self.blocking,
            sleep=self.app.sleep,
            stopping=lambda: self.app.should_stop,
            health=w.health,
            on_failure=self._forget_after_failure,
            send_values=self.send_values,
        )

    def _batch_config(self) -> BatchConfig:
        """The batch's windowing and size limits, with the wall clock read now."""
        s = self.settings
        return BatchConfig(
            s.window_seconds,
            s.allowed_lateness_seconds,
            s.max_future_skew_seconds,
            time.time(),
            s.max_message_bytes,
        )

    async def _positions_and_baselines(
        self, raw: list[RawMessage], sources: set[Source]
    ) -> dict[Source, Position]:
        """The batch's checked source positions; with inferences in it, the held versions'
        baselines refreshed first (fold nothing before the baselines are current)."""
        checked = await self.positions.for_batch(raw)
        if any(r.kind == "inference" for r in raw):
            versions = self._versions()
            held = versions.held_ids()
            versions.apply(await self.blocking(versions.refresh, held), only_held=True)
        return checked

    def _fold_drift_histograms(
        self, events: Sequence[InferenceEvent], columns: FoldColumns, window: int
    ) -> list[Partial]:
        """The inference fold that adds a batch's drift histograms."""
        return self._versions().fold_drift(events, columns, window)

    def _forget_after_failure(self) -> None:
        """After a failed write: count it and forget the positions and version state it relied on."""
        self.metrics.store_errors.labels(operation="batch").inc()
        self.positions.forget()
        self._versions().forget()

    async def _sample_new_versions(self, out: BatchOutput) -> None:
        """Store baseline samples for the versions that want them; best effort (the batch is
        written): a failure is counted and logged, a stop is passed on."""
        wanted = self._versions().take_samples(out.inferences)
        if not wanted:
            return
        w = self.wiring
        try:
            # off the event loop: the rows embed their prompts (one embedder call)
            await self.blocking(
                lambda: w.drift_store.add_samples(sample_records(wanted, w.embedder))
            )
        except IngestStopped:
            raise
        except Exception as exc:  # noqa: BLE001 - the batch is written; samples are best effort
            self.metrics.store_errors.labels(operation="samples").inc()
            log.error("baseline samples not stored: %s: %s", type(exc).__name__, exc)

    def _advance(self, result: IngestResult) -> None:
        """After the write: move the source positions on and export the batch's metrics."""
        m, out = self.metrics, result.out
        self.positions.advance(out)
        if self.wiring.positions:
            m.watermark.set(max(p.watermark for p in self.wiring.positions.values()))
        m.partial_rows.inc(result.rows)
        m.state_evictions.labels(state="version").inc(self._versions().trim())
        record_batch_metrics(m, out)
        record_outcome_metrics(m, result.outcomes)

    def _outcome_stage(self) -> OutcomeStage:
        """The outcome stage, opened at start-up before the agents get a message."""
        if self.wiring.outcome_stage is None:
            raise MonitorError("the outcome stage is not open")
        return self.wiring.outcome_stage

    def _versions(self) -> VersionStates:
        """The version state, opened at start-up before the agents get a message."""
        if self.wiring.versions is None:
            raise MonitorError("the version state is not open")
        return self.wiring.versions

    async def forget_detector_state(self, sender: Any, assigned: Any, **kwargs: Any) -> None:
        """On a rebalance: the detector-values partitions may have moved, forget the owner's state."""
        if self.wiring.detector_owner is not None:
            self.wiring.detector_owner.forget()

    async def close_source_log(self, sender: Any, **kwargs: Any) -> None:
        """Before shutdown: close the source log the positions are checked against."""
        await self.wiring.open_source_log().close()


def _exit_unwritten(messages: int, reason: IngestStopped) -> NoReturn:
    """Leave the process now without committing the batch's offsets: nothing of it may be
    committed, and the detector agent may hold values; it is read again at the next start."""
    log.warning(
        "stopping with a batch of %s not written (%s); exiting now without committing "
        "its offsets: it is read again at the next start",
        counted(messages, "message"),
        reason,
    )
    logging.shutdown()
    os._exit(EXIT_UNWRITTEN)


def exit_refused(error: StoreRefused, left: str) -> NoReturn:
    """Leave the process now, with one line on stderr (as at start: ``error:``, code 2) naming the
    store, the masked URL, the cause, what to fix and what was ``left``; nothing is committed, so a
    worker started with settings the store takes goes on from there."""
    logging.shutdown()
    line = f"error: {error}; stopping with {left}\n"
    os.write(2, line.encode())  # the process's stderr itself: Faust turns sys.stderr into a logger
    os._exit(EXIT_REFUSED)


class IngestService(Service):
    """Runs the source consumer with the app: started after Faust's producer, stopped before it.

    A stop lets the batch in hand finish (or exit the process unwritten, as ``handle`` decides)
    before the consumer commits and leaves its group; an unexpected error stops the worker.
    """

    def __init__(self, app: faust.App, source: SourceConsumer) -> None:
        super().__init__()
        self.app, self.source = app, source
        self._running: asyncio.Task[None] | None = None

    async def on_start(self) -> None:
        s = self.source.settings  # the source topics, created as Faust creates its agents' topics
        topics = dict.fromkeys(self.source.kinds, s.partitions)
        await ensure_topics(s.kafka_bootstrap or "", topics, kafka_client_options(s))
        await declare_output_topics(self.app, s)
        await self.source.start()
        self._running = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            await self.source.run(lambda: self.app.should_stop or self.should_stop)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a worker that no longer ingests must not run on
            refused = read_refusal(exc, list(self.source.kinds))
            if refused is not None:  # an ACL: no retry fixes it, one line says what to grant
                exit_refused(
                    refused,
                    "its offsets as committed: a worker started once the broker grants it reads "
                    "on from them, and skips what the store holds",
                )
            log.exception("the ingest consumer failed; stopping the worker")
            await self.app.crash(exc)

    async def on_stop(self) -> None:
        if self._running is not None:
            await asyncio.wait({self._running})
        await self.source.stop()
