"""The ingest agent: decode a batch, call the core, hand results to the store and the dead-letter topic.

Exactly-once aggregates: each batch's partials and the offsets they cover go to ClickHouse in one
insert; after a crash the consumer replays from its last commit and ``process_batch`` skips every
message at or below the offset already in the store.
"""

from __future__ import annotations

import asyncio
import logging
import time

import faust
import numpy as np

from monitor.drift.windows import fold_drift
from monitor.errors import MonitorError
from monitor.pipeline import BatchConfig, BatchOutput, Position, RawMessage
from monitor.services.baselines import BaselineCache
from monitor.services.drift import sample_records
from streams.isolation import process_isolating
from streams.observe import record_batch_metrics, record_outcome_metrics
from streams.wiring import Wiring

__all__ = ["register_agents"]

log = logging.getLogger("monitor.worker")
RETRY_SECONDS = 2.0


def register_agents(app: faust.App, wiring: Wiring) -> None:
    s = wiring.settings
    kinds = {s.inference_topic: "inference", s.feedback_topic: "feedback"}
    source = app.topic(s.inference_topic, s.feedback_topic, partitions=s.partitions,
                       value_serializer="raw", key_serializer="raw")
    dlq = app.topic(s.dlq_topic, partitions=1, value_serializer="raw", key_serializer="raw")
    m = wiring.metrics
    baselines = BaselineCache(wiring.drift_store)  # the store is final here: run_worker opened it

    async def blocking(fn, *args):  # the store is blocking; keep it off the event loop
        return await asyncio.get_running_loop().run_in_executor(wiring.executor, fn, *args)

    async def positions_for(sources: set[tuple[str, int]]) -> dict[tuple[str, int], Position]:
        for topic, partition in sources - wiring.positions.keys():
            last, watermark = await blocking(wiring.store.read_position, topic, partition)
            wiring.positions[(topic, partition)] = Position(last, watermark)
        return wiring.positions

    async def send_dead_letters(out: BatchOutput, now: float) -> None:
        from monitor.dlq import dead_letter_key, dead_letter_record

        pending = []
        for message, rejection in out.rejections:
            record = dead_letter_record(message.topic, message.partition, message.offset, message.kind, rejection, now)
            key = dead_letter_key(message.topic, message.partition, message.offset, rejection.index)
            pending.append(await dlq.send(key=key, value=record))
            m.rejected.labels(kind=message.kind, reason=rejection.reason).inc()
            log.warning("rejected %s %s/%d@%d[%d]: %s", message.kind, message.topic, message.partition,
                        message.offset, rejection.index, rejection.message)
        for future in pending:  # delivered before the batch's offsets are written
            await future
        m.dlq.inc(len(pending))

    def fold_drift_histograms(events, starts, window):
        if not wiring.baselines:
            return []
        times = np.fromiter((e.timestamp for e in events), np.float64, len(events))
        return fold_drift(wiring.baselines, [e.features for e in events], [e.input_text for e in events], starts,
                          [e.model for e in events], [e.model_version for e in events], times, window)

    async def sample_new_versions(out: BatchOutput) -> None:
        wanted = []
        for event in out.inferences:
            key = (event.model, event.model_version)
            if key not in wiring.baselines and wiring.samples_sent.get(key, 0) < s.baseline_samples:
                wiring.samples_sent[key] = wiring.samples_sent.get(key, 0) + 1
                wanted.append(event)
        if wanted:
            try:
                await blocking(wiring.drift_store.add_samples, sample_records(wanted))
            except MonitorError as exc:
                m.store_errors.labels(operation="samples").inc()
                log.error("baseline samples not stored: %s", exc)

    async def handle(raw: list[RawMessage]) -> None:
        stage = wiring.outcome_stage
        if stage is None:  # opened at start-up, before the agents get a message
            raise MonitorError("the outcome stage is not open")
        dead_letters_sent = False
        while True:  # never ack what is not written: retry the whole batch until the stores are back
            config = BatchConfig(s.window_seconds, s.allowed_lateness_seconds, s.max_future_skew_seconds,
                                 time.time(), s.max_message_bytes)
            try:
                positions = await positions_for({(r.topic, r.partition) for r in raw})
                if any(r.kind == "inference" for r in raw):  # fold nothing before the baselines are current
                    wiring.baselines = dict(await blocking(baselines.current))
                out = process_isolating(raw, positions, config, [fold_drift_histograms])
                outcomes = await blocking(stage.process, out, config.now)
                if not dead_letters_sent:
                    await send_dead_letters(out, config.now)
                    dead_letters_sent = True
                batch = {src: (o.last_offset, o.watermark, o.partials) for src, o in out.sources.items()}
                rows = await blocking(wiring.store.write_batch, batch)
                break
            except MonitorError as exc:
                m.store_errors.labels(operation="batch").inc()
                log.error("batch not written, retrying in %.0f s: %s", RETRY_SECONDS, exc)
                wiring.positions.clear()
                stage.forget()
                baselines.forget()
                await asyncio.sleep(RETRY_SECONDS)
        for src, o in out.sources.items():
            wiring.positions[src] = Position(o.last_offset, o.watermark)
        if wiring.positions:
            m.watermark.set(max(p.watermark for p in wiring.positions.values()))
        m.partial_rows.inc(rows)
        await sample_new_versions(out)
        record_batch_metrics(m, out)
        record_outcome_metrics(m, outcomes)

    @app.agent(source, concurrency=1, name="ingest")
    async def ingest(stream):
        async for events in stream.take_events(s.batch_size, within=s.batch_within):
            started = time.perf_counter()
            await handle([RawMessage(e.message.topic, e.message.partition, e.message.offset, e.value,
                                     kinds[e.message.topic]) for e in events])
            m.batch_seconds.observe(time.perf_counter() - started)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust passes assigned= by keyword
    async def forget_positions(sender, assigned, **kwargs):  # another worker may have written meanwhile
        wiring.positions.clear()
        wiring.outcome_stage.forget()
