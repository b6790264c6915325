"""The worker's own source consumer, through the real broker: it commits in the group
``<app_id>-ingest`` only what it wrote, so a restarted worker goes on where the last one stopped
(nothing read again), and a second worker takes partitions over without a message counted twice."""

from __future__ import annotations

import asyncio
import time

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from tests_support import inference, publish_raw, read_topic, wait_until, written_inferences

from monitor.settings import Settings
from streams.source_consumer import ingest_group


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int | None]:
    async def read() -> dict[int, int | None]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
        await consumer.start()
        try:
            return {
                p: await consumer.committed(TopicPartition(topic, p)) for p in range(partitions)
            }
        finally:
            await consumer.stop()

    return asyncio.run(read())


def publish(deployment, prefix: str, per_partition: int) -> None:
    for partition in range(deployment.partitions):
        publish_raw(
            deployment.broker.bootstrap,
            deployment.topics["inference"],
            [
                orjson.dumps(inference(f"{prefix}-{partition}-{i}", time.time()))
                for i in range(per_partition)
            ],
            partition=partition,
        )


def test_a_stopped_worker_committed_what_it_wrote_and_the_next_reads_nothing_again(
    deployment, start_worker
):
    topic = deployment.topics["inference"]
    env = deployment.env()
    group = ingest_group(Settings(app_id=env["MONITOR_APP_ID"]))
    worker = start_worker()
    publish(deployment, "a", 30)
    wait_until(lambda: written_inferences(worker) == 60, what="the first 60 events written")
    assert worker.stop(timeout=30) == 0, f"see {worker.log_path}"
    assert committed(deployment.broker.bootstrap, group, topic, 2) == {0: 30, 1: 30}

    publish(deployment, "b", 5)
    again = start_worker()
    wait_until(lambda: written_inferences(again) == 70, what="the next 10 events written")
    wait_until(
        lambda: again.metric("monitor_messages_consumed_total", {"topic": topic}) == 10,
        what="the new worker's messages counted",
    )
    assert again.metric("monitor_replayed_messages_skipped_total", {"topic": topic}) == 0


def test_a_second_worker_takes_partitions_over_and_nothing_is_counted_twice(
    deployment, start_worker
):
    topic = deployment.topics["inference"]
    first = start_worker(MONITOR_COMMIT_INTERVAL="600", MONITOR_COMMIT_EVERY="100000000")
    publish(deployment, "a", 40)
    wait_until(
        lambda: written_inferences(first) == 80, what="80 events written by the first worker"
    )
    second = start_worker(store="store", MONITOR_COMMIT_INTERVAL="600")
    publish(deployment, "b", 40)
    wait_until(
        lambda: written_inferences(first) == 160, timeout=90, what="160 events written in all"
    )
    # the rebalance committed the revoked partition's written offsets: the second worker read on
    # from there instead of replaying the first 40 messages of its partition

    def consumed_by_each() -> list[float]:
        return [
            w.metric("monitor_messages_consumed_total", {"topic": topic}) for w in (first, second)
        ]

    # a batch's counters follow its write: the last batch's may come a moment after the store has it
    wait_until(lambda: sum(consumed_by_each()) >= 160, what="the last batch's messages counted")
    consumed = consumed_by_each()
    skipped = [
        w.metric("monitor_replayed_messages_skipped_total", {"topic": topic})
        for w in (first, second)
    ]
    assert sum(consumed) == 160 and skipped == [0, 0], (consumed, skipped)
    assert consumed[1] == 40, f"the second worker consumed {consumed[1]}; see {second.log_path}"
    time.sleep(1.0)
    assert written_inferences(first) == 160


def test_a_message_without_a_value_is_dead_lettered_and_its_batch_goes_on(deployment, start_worker):
    """A tombstone (null value) reaches the worker's consumer as ``None``: it is one rejection."""
    from monitor.adapters.producer import EventProducer

    topic = deployment.topics["inference"]
    worker = start_worker()

    async def send() -> None:
        async with EventProducer(deployment.broker.bootstrap) as producer:
            await producer.send_raw(
                topic, orjson.dumps(inference("before", time.time())), partition=0
            )
            await producer.send_raw(topic, None, key=b"k", partition=0)  # type: ignore[arg-type]
            await producer.send_raw(
                topic, orjson.dumps(inference("after", time.time())), partition=0
            )

    asyncio.run(send())
    dead = read_topic(deployment.broker.bootstrap, deployment.topics["dlq"], expected=1)
    assert [(d["reason"], d["source"]["offset"]) for d in dead] == [("undecodable", 1)]
    wait_until(lambda: written_inferences(worker) == 2, what="the two valid events")
