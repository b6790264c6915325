"""A worker creates the topics it writes at start, through its producer, not at its first send
(why: tests/adapters/test_producer_metadata.py)."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer


def test_the_dead_letter_and_alert_topics_exist_once_a_worker_is_ready(deployment, start_worker):
    dlq, alerts = f"{deployment.prefix}.dlq-own", f"{deployment.prefix}.alerts"
    start_worker(MONITOR_DLQ_TOPIC=dlq, MONITOR_ALERTS_TOPIC=alerts)  # neither sent to yet

    async def partitions() -> dict[str, set[int] | None]:
        consumer = AIOKafkaConsumer(bootstrap_servers=deployment.broker.bootstrap)
        await consumer.start()
        try:
            topics = await consumer.topics()
            return {
                t: consumer.partitions_for_topic(t) if t in topics else None for t in (dlq, alerts)
            }
        finally:
            await consumer.stop()

    assert asyncio.run(partitions()) == {dlq: {0}, alerts: {0}}
