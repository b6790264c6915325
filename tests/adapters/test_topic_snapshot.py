"""What ``monitor dead-letters`` reads of a topic, through the real Tansu broker: every record.

Tansu lists the base offset of its newest record-batch object (by modification time) as a
partition's latest offset: below the log end when that batch holds several records, and on S3
(modification times to the second) often far below it. The snapshot reads to the log end anyway.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from faults_support import broker_on_s3

from monitor.adapters.topic_snapshot import read_topic_snapshot
from monitor.adapters.topics import ensure_topics
from monitor.settings import Settings


async def _produce(bootstrap: str, topic: str, alone: int, together: int) -> int:
    """``alone`` records one batch each, then ``together`` in one batch; the offset after the last."""
    await ensure_topics(bootstrap, {topic: 1})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=50)
    await producer.start()
    try:
        for i in range(alone):
            await producer.send_and_wait(topic, f"alone {i}".encode(), partition=0)
        sent = [
            await producer.send(topic, f"together {i}".encode(), partition=0)
            for i in range(together)
        ]
        return int((await asyncio.gather(*sent))[-1].offset) + 1
    finally:
        await producer.stop()


async def _snapshot(bootstrap: str, topic: str) -> list[int]:
    return [r.offset async for r in read_topic_snapshot(Settings(kafka_bootstrap=bootstrap), topic)]


def _read_to_the_end(bootstrap: str, topic: str) -> None:
    end = asyncio.run(_produce(bootstrap, topic, alone=20, together=5))
    assert end == 25
    assert asyncio.run(_snapshot(bootstrap, topic)) == list(range(25))


def test_every_record_up_to_the_log_end_on_memory_storage(broker, unique):
    _read_to_the_end(broker.bootstrap, f"t{unique}.dlq")


def test_every_record_up_to_the_log_end_on_s3_storage(tmp_path, unique):
    with broker_on_s3(tmp_path, f"s{unique}") as s3_broker:
        _read_to_the_end(s3_broker.bootstrap, f"t{unique}.dlq")
