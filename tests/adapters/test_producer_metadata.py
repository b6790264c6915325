"""Why a worker creates the topics it writes through the app's producer, at start (streams/delivery.py
``declare_output_topics``): aiokafka's producer knows the topics that exist when it starts; its
first send to a topic created later narrows every metadata refresh to that topic alone, and the
refresh replaces what it knew. A send to a known topic still waiting in the producer then waits
on an unknown leader, for as long as the producer's request timeout (Faust: 20 minutes): a worker
stopped taking feedback while its detector values waited so, behind its first alert. A full
refresh after creating the topic (what Faust's topic declaration does) keeps every topic known."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from monitor.adapters.topics import ensure_topics


@pytest.mark.parametrize("refreshed", [False, True])
def test_a_topic_created_after_the_producer_started_needs_a_full_refresh(
    broker, unique, refreshed
) -> None:
    known, later = f"t{unique}.values", f"t{unique}.alerts"

    async def run() -> tuple[bool, bool]:
        """Whether both sends were delivered within 10 s, and whether the producer still knew the
        first topic's partitions then."""
        await ensure_topics(broker.bootstrap, {known: 2})
        producer = AIOKafkaProducer(  # a stuck batch expires after 12 s, so that stop() returns
            bootstrap_servers=broker.bootstrap, linger_ms=300, request_timeout_ms=12_000
        )
        await producer.start()
        try:
            await ensure_topics(broker.bootstrap, {later: 1})
            if refreshed:
                await producer.client.force_metadata_update()  # every topic: none tracked yet
            values = await producer.send(known, b"values")  # lingers 300 ms
            alert = await producer.send(later, b"alert")
            try:
                await asyncio.wait_for(asyncio.gather(values, alert), 10)
                delivered = True
            except TimeoutError:
                delivered = False
            return delivered, producer.client.cluster.partitions_for_topic(known) is not None
        finally:
            await producer.stop()

    assert asyncio.run(run()) == (refreshed, refreshed)
