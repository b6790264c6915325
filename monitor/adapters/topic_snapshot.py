"""Read a topic as it stands, without joining a consumer group: what ``monitor dead-letters`` reads.

Every partition is assigned by hand and read from its start (or from the first offset at or after
``since``) up to its log end when the reading began, partition after partition, then the consumer
stops. The log end is the high watermark of the partition's first fetch (or the listed end offset,
if higher): Tansu lists the base offset of its newest record-batch object, by modification time, as
the latest offset, below the log end when that batch holds several records or others were written
in the same second. No group, no committed offset: reading moves nothing any other reader sees. The
topic is looked up in the cluster's metadata first, so a missing topic is said, never created.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from monitor.adapters.broker_check import broker_errors
from monitor.adapters.client_security import kafka_client_options
from monitor.errors import BrokerError, MonitorError
from monitor.redact import mask_url
from monitor.settings import Settings

__all__ = ["STALL_SECONDS", "NoSuchTopic", "TopicRecord", "read_topic_snapshot"]

STALL_SECONDS = (
    30.0  # a partition that sends nothing for this long while behind its end stops the read
)
_POLL_MS = 1000


class NoSuchTopic(MonitorError):
    """The topic does not exist on the broker."""


@dataclass(frozen=True, slots=True)
class TopicRecord:
    partition: int
    offset: int
    timestamp: float | None  # seconds, as the producer or the broker stamped it
    value: bytes | None


async def read_topic_snapshot(
    settings: Settings, topic: str, *, since: float | None = None
) -> AsyncGenerator[TopicRecord, None]:
    """The records of ``topic`` up to its log end at the start, partition by partition in offset
    order; from the first offset stamped at or after ``since`` (epoch seconds) when given.

    Raises :class:`NoSuchTopic`, and :class:`BrokerError` when the broker fails or a partition sends
    nothing for :data:`STALL_SECONDS` before its end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap or "",
        group_id=None,
        enable_auto_commit=False,
        client_id="monitor-dead-letters",
        **kafka_client_options(settings),
    )
    read = 0
    try:
        with broker_errors(settings):
            await consumer.start()
        # every topic's metadata, asked without naming the topic: a broker never creates it for that
        known = consumer.partitions_for_topic(topic)
        if topic not in await consumer.topics() or not known:
            raise NoSuchTopic(topic)
        partitions = [TopicPartition(topic, p) for p in sorted(known)]
        listed = await consumer.end_offsets(partitions)
        starts = await _start_offsets(consumer, partitions, since)
        wanted = {tp: start for tp in partitions if (start := starts[tp]) is not None}
        consumer.assign(list(wanted))
        # every position set before any fetch: nothing read is wasted
        for tp, start in wanted.items():
            consumer.seek(tp, start)
        for tp in wanted:
            async for record in _read_partition(consumer, tp, listed[tp]):
                read += 1
                yield record
    except KafkaError as exc:
        raise BrokerError(
            f"the Kafka broker at {mask_url(settings.kafka_bootstrap or '')} failed while "
            f"{read} records of {topic} were read ({type(exc).__name__}: {exc})"
        ) from exc
    finally:
        await consumer.stop()


async def _start_offsets(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], since: float | None
) -> dict[TopicPartition, int | None]:
    """Each partition's first offset to read; None when nothing in it is stamped at or after ``since``."""
    if since is None:
        return dict(await consumer.beginning_offsets(partitions))
    found = await consumer.offsets_for_times({tp: max(0, int(since * 1000)) for tp in partitions})
    return {tp: (None if at is None else at.offset) for tp, at in found.items()}


async def _read_partition(
    consumer: AIOKafkaConsumer, tp: TopicPartition, listed_end: int
) -> AsyncGenerator[TopicRecord, None]:
    """The partition's records up to the high watermark of its first fetch or ``listed_end``,
    whichever is higher."""
    end: int | None = None  # known from the first fetch's answer, with or without records
    idle_since = time.monotonic()
    while end is None or await consumer.position(tp) < end:
        batch = await consumer.getmany(tp, timeout_ms=_POLL_MS)
        if end is None and consumer.highwater(tp) is not None:
            end = max(listed_end, consumer.highwater(tp))
        records = batch.get(tp, [])
        if records:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > STALL_SECONDS:
            at = await consumer.position(tp)
            if at >= listed_end:  # all it listed is read; beyond: a gap (Tansu killed mid-write)
                return
            raise BrokerError(
                f"{tp.topic} partition {tp.partition} sent nothing for {STALL_SECONDS:g} s "
                f"at offset {at} of {end if end is not None else listed_end}"
            )
        for record in records:
            if end is not None and record.offset >= end:
                return
            stamp = record.timestamp  # milliseconds; -1 when the producer set none
            seconds = stamp / 1000 if stamp is not None and stamp >= 0 else None
            yield TopicRecord(tp.partition, record.offset, seconds, record.value)
