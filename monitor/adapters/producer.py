"""Publish events: validate, group by partition of ``request_id``, send JSON arrays of many events.

A message per event costs the consumer far more than the bytes; batches of ~100 events per
message are how producers reach full speed.

    async with EventProducer("127.0.0.1:9092") as producer:
        await producer.send("inference", [{"request_id": "r1", "timestamp": time.time(), ...}])
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Self

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from monitor.adapters.delivery import DELIVERY_TIMEOUT
from monitor.contract.decode import Rejection
from monitor.contract.events import validate_event
from monitor.errors import InvalidEvent

__all__ = ["STOP_AFTER_FAILURE", "EventProducer", "SendReport", "partition_for"]

log = logging.getLogger("monitor.producer")
STOP_AFTER_FAILURE = 5.0  # seconds a close after an error or a cancellation may wait for delivery


def partition_for(request_id: str, partitions: int) -> int:
    """Kafka's default partition of a key (murmur2), so batches keep request_id locality."""
    return (murmur2(request_id.encode()) & 0x7FFFFFFF) % partitions


class SendReport:
    def __init__(self) -> None:
        self.sent = 0
        self.messages = 0
        self.rejected: list[Rejection] = []


class EventProducer:
    def __init__(
        self,
        bootstrap: str,
        *,
        topics: Mapping[str, str] | None = None,
        batch_size: int = 100,
        validate: bool = True,
        max_future_skew: float = 300.0,
        max_request_size: int = 4_194_304,
        client_options: Mapping[str, Any] | None = None,
        delivery_timeout: float = DELIVERY_TIMEOUT,
    ) -> None:
        """``delivery_timeout``: seconds a message waits for the broker's confirmation before its
        send fails (aiokafka's ``request_timeout_ms``)."""
        self.bootstrap = bootstrap
        self.topics = dict(
            topics or {"inference": "monitor.inference", "feedback": "monitor.feedback"}
        )
        self.batch_size = batch_size
        self.validate = validate
        self.max_future_skew = max_future_skew
        self.max_request_size = max_request_size
        self.delivery_timeout = delivery_timeout
        # security_protocol, ssl_context, sasl_*: see monitor.adapters.client_security.kafka_client_options
        self.client_options = dict(client_options or {})
        self._producer: AIOKafkaProducer | None = None
        self._partitions: dict[str, int] = {}

    async def start(self) -> Self:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            linger_ms=5,
            max_request_size=self.max_request_size,
            acks="all",
            request_timeout_ms=int(self.delivery_timeout * 1000),
            **self.client_options,
        )
        try:
            await producer.start()
        except BaseException:  # close what start opened: else "Unclosed AIOKafkaProducer" at exit
            await producer.stop()
            raise
        self._producer = producer
        return self

    async def stop(self, timeout: float | None = None) -> None:
        """Deliver what is pending and close; with ``timeout``, give up on the pending messages
        after that many seconds (a broker gone would hold the close for ``delivery_timeout``)."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                await asyncio.wait_for(producer.stop(), timeout)
            except TimeoutError:
                log.warning("producer closed after %g s with messages not delivered", timeout)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        # leaving on an error or a cancellation: what is pending may never be delivered
        await self.stop(None if exc_type is None else STOP_AFTER_FAILURE)

    async def _partition_count(self, topic: str) -> int:
        if topic not in self._partitions:
            assert self._producer is not None
            found = await self._producer.partitions_for(topic)
            self._partitions[topic] = max(len(found or ()), 1)
        return self._partitions[topic]

    async def send(
        self, kind: str, events: Sequence[Mapping[str, Any]], *, wait: bool = True
    ) -> SendReport:
        """Validate ``events`` of ``kind`` and publish the valid ones in batches; report the rest."""
        if self._producer is None:
            raise RuntimeError("EventProducer.start() was not called")
        topic = self.topics[kind]
        partitions = await self._partition_count(topic)
        report = SendReport()
        groups: dict[int, list[tuple[int, Mapping[str, Any]]]] = defaultdict(list)
        now = time.time()
        for index, event in enumerate(events):
            if self.validate:
                try:
                    validate_event(kind, event, now=now, max_future_skew=self.max_future_skew)
                except InvalidEvent as exc:
                    report.rejected.append(
                        Rejection(exc.reason, exc.field, exc.detail, index, orjson.dumps(event))
                    )
                    continue
            partition = partition_for(str(event.get("request_id", "")), partitions)
            groups[partition].append((index, event))
        futures = []
        for partition, chunk in _in_input_order(groups, self.batch_size):
            value = orjson.dumps(chunk if len(chunk) > 1 else chunk[0])
            futures.append(
                await self._producer.send(
                    topic, value, key=str(chunk[0]["request_id"]).encode(), partition=partition
                )
            )
            report.messages += 1
            report.sent += len(chunk)
        if wait:  # every confirmation read, so that none is left unretrieved when one fails
            outcomes = await asyncio.gather(*futures, return_exceptions=True)
            failed = [o for o in outcomes if isinstance(o, BaseException)]
            if failed:
                raise failed[0]
        return report

    async def send_raw(
        self, topic: str, value: bytes, key: bytes | None = None, partition: int | None = None
    ) -> None:
        """Publish bytes as they are (for tests of bad input and replays of dead letters)."""
        assert self._producer is not None
        await (await self._producer.send(topic, value, key=key, partition=partition))


def _in_input_order(
    groups: Mapping[int, Sequence[tuple[int, Mapping[str, Any]]]], size: int
) -> list[tuple[int, list[Mapping[str, Any]]]]:
    """Each partition's events (with their input index) in messages of up to ``size``, the messages
    in the order of their first events in the input: a replay's partitions advance side by side, so
    their records' timestamps follow event time as the worker merges them (one partition's whole
    stretch sent before the next one's would arrive at the worker that way).

    >>> groups = {0: [(0, {"i": 0}), (2, {"i": 2}), (4, {"i": 4})], 1: [(1, {"i": 1}), (3, {"i": 3})]}
    >>> [(p, [e["i"] for e in chunk]) for p, chunk in _in_input_order(groups, 2)]
    [(0, [0, 2]), (1, [1, 3]), (0, [4])]
    """
    chunks = [
        (group[start][0], partition, [event for _, event in group[start : start + size]])
        for partition, group in groups.items()
        for start in range(0, len(group), size)
    ]
    return [(partition, chunk) for _, partition, chunk in sorted(chunks, key=lambda c: c[0])]
