"""The detector agent: each version's detector values, from every ingest worker, fed to one set.

The ingest agent sends a batch's detector values, keyed by (model, version), to the detector-values
topic before it writes the batch (:func:`value_sender`); this agent (``concurrency=1``)
feeds them through :class:`monitor.services.detectors.DetectorOwner`, which skips values it fed
already and saves state and detections in the store. Like the ingest agent it never lets Faust
acknowledge a batch it did not process: an outage is retried until it ends or the worker stops.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence

import faust

from monitor.adapters.kafka_refusals import send_failure
from monitor.contract.reasons import INTERNAL_ERROR
from monitor.detectors.values import DetectorValues, decode_values, split_to_fit, values_key
from monitor.errors import MonitorError, is_retryable
from monitor.services.detectors import DetectorBatch, ValuesMessage
from monitor.services.ingest import IngestStopped, RetryPolicy
from streams.delivery import delivered
from streams.observe import record_detections
from streams.wiring import Wiring

__all__ = ["register_detector_agent", "value_sender"]

log = logging.getLogger("monitor.tools.worker")


def value_sender(topic: faust.TopicT) -> Callable[[Sequence[DetectorValues]], Awaitable[None]]:
    """Send a batch's detector values, delivered before it returns (before the batch is written),
    a version's values in as many messages as a Kafka record's size takes (:func:`split_to_fit`).
    A failure is a ``BrokerError`` (retried), a refusal of the worker's principal a
    ``BrokerRefused`` (the worker stops)."""

    async def send(values: Sequence[DetectorValues]) -> None:
        try:
            pending = [
                await topic.send(key=values_key(v.model, v.model_version), value=encoded)
                for v in values
                for _, encoded in split_to_fit(v)
            ]
            await delivered(pending)
        except Exception as exc:
            raise send_failure(exc, "detector values", topic.get_topic_name()) from exc

    return send


def register_detector_agent(
    app: faust.App,
    wiring: Wiring,
    topic: faust.TopicT,
    blocking: Callable[..., Awaitable],
    exit_code: int,
) -> None:
    s, m = wiring.settings, wiring.metrics
    policy = RetryPolicy()

    def decode(events) -> list[ValuesMessage]:
        messages, now = [], time.time()
        for e in events:
            try:
                values = decode_values(e.value, now=now, max_future_skew=s.max_future_skew_seconds)
            except MonitorError as exc:  # our own format: only a foreign producer writes this
                log.error(
                    "detector values %d@%d skipped: %s", e.message.partition, e.message.offset, exc
                )
                m.rejected.labels(kind="detector_values", reason="malformed").inc()
                continue
            messages.append(ValuesMessage(e.message.partition, e.message.offset, values))
        return messages

    async def feed(messages: list[ValuesMessage]) -> DetectorBatch | None:
        owner = wiring.detector_owner
        if owner is None:
            raise MonitorError("the detector owner is not open")
        failures = 0
        while True:
            try:
                batch: DetectorBatch = await blocking(
                    owner.process_isolating, messages, time.time()
                )
            except IngestStopped:
                raise
            except Exception as exc:  # noqa: BLE001 - the boundary: retry outages, skip the rest
                owner.forget()  # reload what the store holds: a half-done batch is fed again
                m.store_errors.labels(operation="detectors").inc()
                failures += 1
                if not is_retryable(exc) and failures >= policy.unexplained_attempts:
                    log.error("detector batch skipped after %d failures: %s", failures, exc)
                    return None
                delay = policy.delay(failures)
                log.error("detector batch failed, retrying in %.1f s: %s", delay, exc)
                await app.sleep(delay)
                continue
            for message, error in batch.skipped:  # the rest of the batch is fed
                log.error(
                    "detector values %d@%d skipped: feeding them raised %s: %s",
                    message.partition,
                    message.offset,
                    type(error).__name__,
                    error,
                )
                m.rejected.labels(kind="detector_values", reason=INTERNAL_ERROR).inc()
            return batch

    @app.agent(topic, concurrency=1, name="detectors")
    async def detectors(stream):
        async for events in stream.take_events(s.batch_size, within=s.batch_within):
            messages = decode(events)
            if not messages:
                continue
            try:
                batch = await feed(messages)
            except IngestStopped as exc:
                log.warning("stopping with detector values not fed (%s); exiting now", exc)
                logging.shutdown()
                os._exit(exit_code)
            if batch is not None:
                record_detections(m, batch)
                m.state_evictions.labels(state="detector").inc(batch.evicted)
