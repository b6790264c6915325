"""Offsets that cannot lie, through the real broker: a recreated topic and a broker restarted on fresh
storage both restart offsets at 0; the worker detects it, counts it, and processes every new event
instead of skipping them as already written."""

from __future__ import annotations

import asyncio
import time

from aiokafka.admin import AIOKafkaAdminClient
from tests_support import inference, reader_for, wait_until

from monitor.adapters.local_broker import LocalBroker, free_port
from monitor.adapters.producer import EventProducer
from monitor.adapters.worker_process import WorkerProcess

EVENT_ROWS = "SELECT sum(count) FROM monitor.partials WHERE name = 'inference_events'"


def publish(bootstrap: str, topics: dict[str, str], first: int, n: int) -> None:
    now = time.time()
    events = [inference(f"r{i}", now - 30 + i * 0.01) for i in range(first, first + n)]

    async def send() -> None:
        async with EventProducer(
            bootstrap, topics=topics, batch_size=1
        ) as producer:  # one event per message
            report = await producer.send("inference", events)
            assert not report.rejected

    asyncio.run(send())


def stored_events(worker: WorkerProcess) -> float:
    return float(reader_for(worker).query(EVENT_ROWS).rows[0][0] or 0)


def recreate_topics(deployment) -> None:
    async def delete() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=deployment.broker.bootstrap)
        await admin.start()
        try:
            await admin.delete_topics(
                [deployment.topics["inference"], deployment.topics["feedback"]]
            )
        finally:
            await admin.close()

    asyncio.run(delete())
    deployment.create_topics()


def test_recreated_topics_are_processed_not_skipped(deployment, start_worker):
    publish(deployment.broker.bootstrap, deployment.topics, 0, 60)
    first = start_worker()
    wait_until(lambda: stored_events(first) == 60, what="the first 60 events in the store")
    assert first.stop() == 0

    recreate_topics(deployment)
    # More messages than before: each partition's log end passes its stored offset, so only the topic
    # id tells the new log from the old one.
    publish(deployment.broker.bootstrap, deployment.topics, 1000, 150)
    second = start_worker()
    wait_until(lambda: stored_events(second) == 210, what="all 150 new events in the store")
    resets = second.metric("monitor_offset_resets_total", {"reason": "identity_changed"})
    assert (
        resets == deployment.partitions
    )  # every inference partition held a position of the old topic
    assert second.metric("monitor_replayed_messages_skipped_total") == 0
    # counted once the batch's follow-up work (baseline samples) is done, just after the write
    wait_until(lambda: second.metric("monitor_events_total") == 150, what="150 events counted")


def test_broker_restarted_on_fresh_storage_is_detected(deployment, tmp_path):
    port = free_port()
    broker = LocalBroker(port=port, log_path=tmp_path / "broker1.log").start()
    workers: list[WorkerProcess] = []

    def worker() -> WorkerProcess:
        env = deployment.env(MONITOR_KAFKA_BOOTSTRAP=broker.bootstrap)
        started = WorkerProcess(env, tmp_path / f"worker{len(workers)}.log", free_port()).start()
        workers.append(started)
        started.wait_ready()
        return started

    try:
        deployment.broker = broker
        deployment.create_topics()
        publish(broker.bootstrap, deployment.topics, 0, 80)
        first = worker()
        wait_until(lambda: stored_events(first) == 80, what="the first 80 events in the store")
        assert first.stop() == 0
        broker.stop()

        broker = LocalBroker(
            port=port, log_path=tmp_path / "broker2.log"
        ).start()  # same address, empty log
        deployment.broker = broker
        deployment.create_topics()
        publish(
            broker.bootstrap, deployment.topics, 1000, 30
        )  # offsets restart below the stored ones
        second = worker()
        wait_until(
            lambda: stored_events(second) == 110, what="the 30 events after the broker lost its log"
        )
        assert second.metric("monitor_offset_resets_total") == deployment.partitions
        assert second.metric("monitor_replayed_messages_skipped_total") == 0
    finally:
        for started in workers:
            started.kill()
        broker.stop()
