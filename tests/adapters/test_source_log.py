"""The broker's view of a source partition, from the real Tansu broker: identity and log end."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from proxy_support import FetchHoldingProxy
from tests_support import missing_service
from tls_support import other_free_port

from monitor.adapters.local_broker import LocalBroker, free_port
from monitor.adapters.source_log import SourceLog
from monitor.adapters.topics import ensure_topics
from monitor.errors import BrokerError


def test_identity_changes_with_a_recreated_topic_and_the_log_end_is_the_true_one(tmp_path, unique):
    topic = f"t{unique}.inference"
    try:
        broker = LocalBroker(
            log_path=tmp_path / "broker.log"
        ).start()  # its own: the test deletes a topic
    except BrokerError as exc:
        missing_service(f"Tansu broker ({exc})")

    async def run() -> None:
        await ensure_topics(broker.bootstrap, {topic: 1})
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=50)
        await producer.start()
        sent = [
            await producer.send(topic, b"{}", partition=0) for _ in range(7)
        ]  # one record batch
        await asyncio.gather(*sent)
        await producer.stop()
        log = SourceLog(broker.bootstrap)
        try:
            listed = (await log.states([(topic, 0)]))[(topic, 0)]
            # Tansu lists the last batch's base offset as the latest offset; a fetch tells the truth
            assert listed.log_end <= 7
            for stored, end in ((5, 7), (6, 7), (7, 7), (40, 7)):
                assert (await log.states([(topic, 0)], {(topic, 0): stored}))[
                    (topic, 0)
                ].log_end == end
            cluster, topic_id = listed.identity.split("/")
            assert cluster and topic_id

            admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
            await admin.start()
            try:
                await admin.delete_topics([topic])
            finally:
                await admin.close()
            await ensure_topics(broker.bootstrap, {topic: 1})
            again = (await log.states([(topic, 0)], {(topic, 0): 6}))[(topic, 0)]
            assert again.identity.split("/")[0] == cluster and again.identity != listed.identity
            assert again.log_end == 0
        finally:
            await log.close()

    try:
        asyncio.run(run())
    finally:
        broker.stop()


def test_a_log_end_no_fetch_confirms_is_a_broker_error_not_a_lost_log(tmp_path, unique):
    """The listed log end (Tansu: the last batch's base offset) is at or below the stored offset, as
    after a crash of a worker that had read the partition to its end, and the broker answers no
    fetch: the state is not known, so the batch waits (a ``BrokerError`` is retried) instead of
    taking the log for one that lost its records, which would process the partition again."""
    topic = f"t{unique}.feedback"
    proxy_port = free_port()
    broker_port = other_free_port(proxy_port)

    async def run() -> None:
        proxy = await FetchHoldingProxy(proxy_port, broker_port).start()
        log = SourceLog(f"127.0.0.1:{proxy_port}")
        try:
            await ensure_topics(log.bootstrap, {topic: 1})
            producer = AIOKafkaProducer(bootstrap_servers=log.bootstrap, linger_ms=50)
            await producer.start()
            await asyncio.gather(
                *[await producer.send(topic, b"{}", partition=0) for _ in range(7)]
            )
            await producer.stop()
            listed = (await log.states([(topic, 0)]))[(topic, 0)].log_end
            assert listed <= 6 and proxy.held == 0  # nothing stored: no fetch asked
            with pytest.raises(BrokerError, match=r"answered no fetch .* not confirmed"):
                await log.states([(topic, 0)], {(topic, 0): 6})
            assert proxy.held >= 1
        finally:
            await log.close()
            await proxy.stop()

    with LocalBroker(broker_port, advertised_port=proxy_port, log_path=tmp_path / "broker.log"):
        asyncio.run(run())
