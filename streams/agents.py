"""The ingest agent: decode a batch, call the core, hand results to the store and the dead-letter topic.

Exactly-once aggregates: each batch's partials and the offsets they cover go to ClickHouse in one
insert; after a crash the consumer replays from its last commit and ``process_batch`` skips every
message at or below the offset already in the store, once the broker confirmed that offset still
counts in the same log (``streams.positions``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

import faust
from mode import Service

from monitor.adapters.client_security import kafka_client_options
from monitor.adapters.topics import ensure_topics
from monitor.errors import BrokerError, MonitorError
from monitor.folding.pipeline import BatchConfig, BatchOutput, Position, RawMessage
from monitor.services.drift import sample_records
from monitor.services.ingest import BatchIngest, IngestStopped, ingest_batch, run_blocking
from monitor.services.versions import VersionStates
from streams.detector_agent import register_detector_agent, value_sender
from streams.judge_forward import judge_forwarder
from streams.observe import record_batch_metrics, record_outcome_metrics
from streams.positions import SourcePositions
from streams.source_consumer import SourceConsumer
from streams.wiring import Wiring

__all__ = ["EXIT_UNWRITTEN", "register_agents"]

log = logging.getLogger("monitor.tools.worker")
EXIT_UNWRITTEN = (
    75  # stopped with a batch not written: its offsets are not committed, it is read again
)


def register_agents(app: faust.App, wiring: Wiring) -> IngestService:
    """Register the detector agent and its hooks; return the ingest service for the app to start."""
    s = wiring.settings
    dlq = app.topic(s.dlq_topic, partitions=1, value_serializer="raw", key_serializer="raw")
    values_topic = app.topic(
        s.detector_values_topic,
        partitions=s.partitions,
        value_serializer="raw",
        key_serializer="raw",
    )
    m = wiring.metrics

    async def blocking(
        fn, *args
    ):  # the store is blocking; keep it off the event loop, give up on stop
        return await run_blocking(wiring.executor, lambda: app.should_stop, fn, *args)

    async def stored_position(topic: str, partition: int) -> Position:
        return await blocking(wiring.store.position, topic, partition)

    register_detector_agent(app, wiring, values_topic, blocking, EXIT_UNWRITTEN)
    send_values = value_sender(values_topic)
    forward_to_judge = judge_forwarder(app, wiring)  # None unless judging is configured
    positions = SourcePositions(stored_position, wiring.open_source_log(), m, wiring.positions)

    async def send_dead_letters(rejections, now: float) -> None:
        from monitor.contract.dlq import dead_letter_key, dead_letter_record

        pending = []
        try:
            for message, rejection in rejections:
                record = dead_letter_record(
                    message.topic, message.partition, message.offset, message.kind, rejection, now
                )
                key = dead_letter_key(
                    message.topic, message.partition, message.offset, rejection.index
                )
                pending.append(await dlq.send(key=key, value=record))
                log.warning(
                    "rejected %s %s/%d@%d[%d]: %s",
                    message.kind,
                    message.topic,
                    message.partition,
                    message.offset,
                    rejection.index,
                    rejection.message,
                )
            for future in pending:  # delivered before the batch's offsets are written
                await future
        except Exception as exc:
            raise BrokerError(f"dead letters not delivered: {type(exc).__name__}: {exc}") from exc
        for message, rejection in rejections:
            m.rejected.labels(kind=message.kind, reason=rejection.reason).inc()
        m.dlq.inc(len(pending))

    def versions() -> VersionStates:
        if wiring.versions is None:  # opened at start-up, before the agents get a message
            raise MonitorError("the version state is not open")
        return wiring.versions

    def fold_drift_histograms(events, columns, window):
        return versions().fold_drift(events, columns, window)

    async def sample_new_versions(out: BatchOutput) -> None:
        wanted = versions().take_samples(out.inferences)
        if wanted:
            try:
                # off the event loop: the rows embed their prompts (one embedder call)
                await blocking(
                    lambda: wiring.drift_store.add_samples(sample_records(wanted, wiring.embedder))
                )
            except IngestStopped:
                raise
            except Exception as exc:  # noqa: BLE001 - the batch is written; samples are best effort
                m.store_errors.labels(operation="samples").inc()
                log.error("baseline samples not stored: %s: %s", type(exc).__name__, exc)

    def forget_after_failure() -> None:
        m.store_errors.labels(operation="batch").inc()
        positions.forget()
        versions().forget()

    async def handle(raw: list[RawMessage]) -> None:
        stage = wiring.outcome_stage
        if stage is None:  # opened at start-up, before the agents get a message
            raise MonitorError("the outcome stage is not open")

        async def positions_and_baselines(
            sources: set[tuple[str, int]],
        ) -> dict[tuple[str, int], Position]:
            checked = await positions.for_batch(raw)
            if any(
                r.kind == "inference" for r in raw
            ):  # fold nothing before the baselines are current
                held = versions().held_ids()
                versions().apply(await blocking(versions().refresh, held), only_held=True)
            return checked

        try:  # never ack what is not written: outages are retried until they end or the worker stops
            result = await ingest_batch(
                raw,
                BatchIngest(
                    wiring.store,
                    stage,
                    [fold_drift_histograms],
                    wiring.shadow_stage,
                    wiring.versions,
                    positions.logs,
                ),
                config_for=lambda: BatchConfig(
                    s.window_seconds,
                    s.allowed_lateness_seconds,
                    s.max_future_skew_seconds,
                    time.time(),
                    s.max_message_bytes,
                ),
                positions_for=positions_and_baselines,
                send_dead_letters=send_dead_letters,
                blocking=blocking,
                sleep=app.sleep,
                stopping=lambda: app.should_stop,
                health=wiring.health,
                on_failure=forget_after_failure,
                send_values=send_values,
            )
            out, outcomes, rows = result.out, result.outcomes, result.rows
            await sample_new_versions(out)
            if forward_to_judge is not None:
                await forward_to_judge(out)
        except IngestStopped as exc:
            # nothing of it may be committed, and the detector agent may hold values: leave now
            log.warning(
                "stopping with a batch of %d message(s) not written (%s); exiting now without committing "
                "its offsets: it is read again at the next start",
                len(raw),
                exc,
            )
            logging.shutdown()
            os._exit(EXIT_UNWRITTEN)
        positions.advance(out)
        if wiring.positions:
            m.watermark.set(max(p.watermark for p in wiring.positions.values()))
        m.partial_rows.inc(rows)
        m.state_evictions.labels(state="version").inc(versions().trim())
        record_batch_metrics(m, out)
        record_outcome_metrics(m, outcomes)

    async def timed_handle(raw: list[RawMessage]) -> None:
        started = time.perf_counter()
        await handle(raw)
        m.batch_seconds.observe(time.perf_counter() - started)

    source = SourceConsumer(s, kafka_client_options(s), timed_handle, on_assigned=positions.forget)
    wiring.log_ends = source.log_ends  # the consumer lag timer reads them
    wiring.broker_answered_at = source.broker_answered_at  # /health reads it
    ingest_service = IngestService(app, source)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust passes assigned= by keyword
    async def forget_detector_state(sender, assigned, **kwargs):
        if wiring.detector_owner is not None:  # the detector-values partitions may have moved
            wiring.detector_owner.forget()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # faust's receiver type wants signal=
    async def close_source_log(sender, **kwargs):
        await wiring.open_source_log().close()

    return ingest_service


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
        await self.source.start()
        self._running = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            await self.source.run(lambda: self.app.should_stop or self.should_stop)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a worker that no longer ingests must not run on
            log.exception("the ingest consumer failed; stopping the worker")
            await self.app.crash(exc)

    async def on_stop(self) -> None:
        if self._running is not None:
            await asyncio.wait({self._running})
        await self.source.stop()
