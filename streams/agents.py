"""Agents: decode a batch, call the core, hand results to the store and the dead-letter topic.

Exactly-once aggregates: each batch's partials and the offsets they cover go to ClickHouse in one
insert; after a crash the consumer replays from its last commit and ``process_batch`` skips every
message at or below the offset already in the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

import faust
import numpy as np

from monitor.dlq import dead_letter_key, dead_letter_record
from monitor.drift.divergence import SEVERITIES
from monitor.drift.windows import fold_drift
from monitor.errors import StoreError
from monitor.pipeline import BatchConfig, BatchOutput, Position, RawMessage, process_batch
from monitor.services.drift import DriftService, sample_records
from streams.wiring import Wiring

__all__ = ["register_agents"]

log = logging.getLogger("monitor.worker")


def register_agents(app: faust.App, wiring: Wiring) -> None:
    s = wiring.settings
    kinds = {s.inference_topic: "inference", s.feedback_topic: "feedback"}
    source = app.topic(s.inference_topic, s.feedback_topic, partitions=s.partitions,
                       value_serializer="raw", key_serializer="raw")
    dlq = app.topic(s.dlq_topic, partitions=1, value_serializer="raw", key_serializer="raw")
    m = wiring.metrics

    async def blocking(fn, *args):  # the store is blocking; keep it off the event loop
        return await asyncio.get_running_loop().run_in_executor(wiring.executor, fn, *args)

    async def positions_for(sources: set[tuple[str, int]]) -> dict[tuple[str, int], Position]:
        for topic, partition in sources - wiring.positions.keys():
            last, watermark = await blocking(wiring.store.read_position, topic, partition)
            wiring.positions[(topic, partition)] = Position(last, watermark)
        return wiring.positions

    async def send_dead_letters(out: BatchOutput, now: float) -> None:
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

    def record_metrics(out: BatchOutput) -> None:
        for kind, n in out.events.items():
            m.events.labels(kind=kind).inc(n)
        for kind, n in out.late.items():
            m.late.labels(kind=kind).inc(n)
        for topic, n in out.skipped.items():
            m.replayed.labels(topic=topic).inc(n)
        for topic, n in out.messages.items():
            m.messages.labels(topic=topic).inc(n)
        for (model, version), n in Counter((e.model, e.model_version) for e in out.inferences).items():
            m.inferences.labels(*m.model_labels(model, version)).inc(n)

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
            except StoreError as exc:
                m.store_errors.labels(operation="samples").inc()
                log.error("baseline samples not stored: %s", exc)

    @app.agent(source, concurrency=1, name="ingest")
    async def ingest(stream):
        async for events in stream.take_events(s.batch_size, within=s.batch_within):
            started = time.perf_counter()
            raw = [RawMessage(e.message.topic, e.message.partition, e.message.offset, e.value,
                              kinds[e.message.topic]) for e in events]
            positions = await positions_for({(r.topic, r.partition) for r in raw})
            config = BatchConfig(s.window_seconds, s.allowed_lateness_seconds, s.max_future_skew_seconds,
                                 time.time(), s.max_message_bytes)
            out = process_batch(raw, positions, config, [fold_drift_histograms])
            await send_dead_letters(out, config.now)
            batch = {src: (o.last_offset, o.watermark, o.partials) for src, o in out.sources.items()}
            while True:
                try:
                    rows = await blocking(wiring.store.write_batch, batch)
                    break
                except StoreError as exc:  # never ack what is not written: retry until the store is back
                    m.store_errors.labels(operation="write_batch").inc()
                    log.error("store write failed, retrying in 2 s: %s", exc)
                    await asyncio.sleep(2)
            for src, o in out.sources.items():
                wiring.positions[src] = Position(o.last_offset, o.watermark)
            m.partial_rows.inc(rows)
            await sample_new_versions(out)
            record_metrics(out)
            m.batch_seconds.observe(time.perf_counter() - started)

    @app.on_partitions_assigned.connect
    async def forget_positions(sender, assigned, **kwargs):  # another worker may have written meanwhile
        wiring.positions.clear()

    refresh_state = {"since": 0.0}
    drift = DriftService(wiring.drift_store, s)

    @app.timer(s.refresh_interval, name="load_baselines")
    async def load_baselines():
        try:
            wiring.baselines = await blocking(wiring.drift_store.active_baselines)
        except StoreError as exc:
            log.error("baselines not loaded: %s", exc)

    @app.timer(s.refresh_interval, on_leader=True, name="refresh_windows")
    async def refresh_windows():
        mark = time.time() - 5.0  # margin for clocks between store and worker
        try:
            touched = await blocking(wiring.store.refresh_metric_windows, refresh_state["since"])
            refresh_state["since"] = mark
            await blocking(drift.build_automatic_baselines, time.time())
            scored = await blocking(drift.score_closed_windows, time.time())
        except StoreError as exc:
            m.store_errors.labels(operation="refresh").inc()
            log.error("window refresh failed: %s", exc)
            return
        if touched:
            m.windows_written.labels(table="metric_windows").inc(touched)
        for model, version, _, rows in scored:
            labels = m.model_labels(model, version)
            for row in rows:
                if row.psi is None:
                    continue
                m.drift_psi.labels(*labels, row.feature).set(row.psi)
                m.drift_kl.labels(*labels, row.feature).set(row.kl)
                m.drift_js.labels(*labels, row.feature).set(row.js)
                m.drift_severity.labels(*labels, row.feature).set(SEVERITIES.index(row.severity))
            m.windows_written.labels(table="drift_windows").inc(len(rows))

    @app.timer(5.0, name="consumer_lag")
    async def consumer_lag():
        for (topic, partition), position in list(wiring.positions.items()):
            try:
                high = app.consumer.highwater(faust.types.TP(topic, partition))
            except Exception:  # noqa: BLE001 - partition not assigned here any more
                continue
            if high is not None:
                m.lag.labels(topic=topic, partition=str(partition)).set(max(high - position.last_offset - 1, 0))

