"""Faults through real services: the broker, the store, Redis and a worker fail mid-stream.

Each case produces a known stream, breaks a real component (SIGKILL), brings it back and checks
the store's partials bucket by bucket against what was produced: nothing lost where the data was
kept, nothing counted twice, every invalid event dead-lettered once. Figures: docs/RELIABILITY.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faults_support import (
    Figures,
    Ledger,
    broker_on_s3,
    dead_letter_keys,
    publish,
    redis_server,
    written_counts,
)
from tests_support import wait_until

from monitor.adapters.local_broker import free_port
from monitor.adapters.topics import ensure_topics
from monitor.adapters.worker_process import WorkerProcess

FAST = {
    "MONITOR_BATCH_SIZE": "20",
    "MONITOR_COMMIT_INTERVAL": "0.5",
    "MONITOR_SESSION_TIMEOUT": "4",
}


@pytest.fixture()
def workers(tmp_path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start workers of any deployment; every one is killed at the end of the test."""
    started: list[WorkerProcess] = []

    def start(deployment, wait: bool = True, **extra: str) -> WorkerProcess:
        worker = WorkerProcess(
            deployment.env("store", **FAST, **extra),
            tmp_path / f"worker{len(started)}.log",
            free_port(),
        )
        started.append(worker.start())
        if wait:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.kill()


def settle(ledger: Ledger, reader: WorkerProcess, deployment, timeout: float = 60.0) -> Figures:
    """Figures once the store holds at least every produced event and one more refresh has passed."""
    expected = ledger.expected()
    total = sum(v for k, v in expected.items() if k[0] != "outcome")
    wait_until(
        lambda: sum(v for k, v in written_counts(reader).items() if k[0] != "outcome") >= total,
        timeout=timeout,
        what=f"{total} events written",
    )
    time.sleep(1.0)  # anything written twice would land by now
    dead = len(dead_letter_keys(deployment.broker.bootstrap, deployment.topics["dlq"]))
    return ledger.figures(written_counts(reader), dead)


def assert_exactly_once(figures: Figures, ledger: Ledger) -> None:
    print(figures.line("figures"))
    assert (figures.written, figures.lost, figures.double_counted) == (ledger.valid, 0, 0)
    assert figures.dead_lettered == ledger.invalid > 0
    assert (figures.outcomes_written, figures.outcomes_lost, figures.outcomes_double_counted) == (
        figures.outcomes_expected,
        0,
        0,
    )


def test_broker_killed_and_restarted_on_its_storage_loses_and_repeats_nothing(
    deployment, tmp_path, unique, workers
):
    with broker_on_s3(tmp_path, f"b{unique}") as broker:
        deployment = dataclasses.replace(deployment, broker=broker)  # same names, on this broker
        deployment.create_topics()
        ledger = Ledger()
        first = ledger.inferences_batch(1500)
        publish(broker.bootstrap, deployment.topics, first, ledger.feedback_for(first))
        worker = workers(deployment)
        wait_until(lambda: worker.metric("monitor_events_total") > 0, what="the first batches")
        broker.kill()  # SIGKILL mid-stream; its log is in the S3 bucket
        print(
            f"events processed when the broker was killed: {worker.metric('monitor_events_total'):.0f}"
        )
        time.sleep(
            5.0
        )  # longer than the session timeout: the group is formed again after the restart
        broker.start()
        second = ledger.inferences_batch(1500)
        publish(broker.bootstrap, deployment.topics, second, ledger.feedback_for(second))
        assert_exactly_once(settle(ledger, worker, deployment), ledger)
        assert worker.alive()


def test_dead_letters_read_back_to_the_log_end_when_fetches_come_back_short(tmp_path, unique):
    """The read-back the broker case is judged by. Tansu on S3 storage lists a latest offset below
    the log end, and a fetch whose max wait passes (a slow store, a loaded machine) returns a prefix
    of the log: every record is read anyway, up to the high watermark the fetches report."""
    with broker_on_s3(tmp_path, f"d{unique}") as broker:
        keys = {f"dead letter {i}".encode() for i in range(30)}
        asyncio.run(_send_one_by_one(broker.bootstrap, "dlq", keys))  # 30 record-batch objects
        short = {"fetch_max_wait_ms": 20}  # a few objects read from moto per fetch
        assert asyncio.run(_first_fetch(broker.bootstrap, "dlq", **short)) < len(keys)
        assert dead_letter_keys(broker.bootstrap, "dlq", **short) == keys


async def _send_one_by_one(bootstrap: str, topic: str, keys: set[bytes]) -> None:
    await ensure_topics(bootstrap, {topic: 1})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key in sorted(keys):
            await producer.send_and_wait(topic, b"{}", key=key, partition=0)
    finally:
        await producer.stop()


async def _first_fetch(bootstrap: str, topic: str, **options: Any) -> int:
    """How many records the first fetch from the start of partition 0 returns."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **options
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        for _ in range(30):
            if records := (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                return len(records)
        raise AssertionError(f"{topic}: no record fetched in 30 s")
    finally:
        await consumer.stop()


def test_store_owner_killed_mid_stream_then_back_on_another_port(deployment, workers, redis_url):
    shared = {"MONITOR_REDIS_URL": redis_url, "MONITOR_JOIN_TTL": "1h"}  # joins outlive a worker
    pair = [
        workers(deployment, wait=False, **shared) for _ in range(2)
    ]  # started together: one owns the
    for worker in pair:  # embedded store, the other uses it through the owner's /store endpoint
        worker.wait_ready()
    owner_pid = json.loads((deployment.tmp / "store.owner.json").read_text())["pid"]
    owner, other = sorted(pair, key=lambda w: w.process.pid != owner_pid)
    ledger = Ledger()
    first = ledger.inferences_batch(1000)
    publish(deployment.broker.bootstrap, deployment.topics, first, ledger.feedback_for(first))
    wait_until(
        lambda: other.metric("monitor_events_total") > 0, what="the second worker's first batches"
    )
    owner.kill()  # the store is gone for the other worker: its batches fail and are retried
    second = ledger.inferences_batch(1000)
    publish(deployment.broker.bootstrap, deployment.topics, second, ledger.feedback_for(second))
    wait_until(
        lambda: other.metric("monitor_store_errors_total", {"operation": "batch"}) > 0,
        what="the other worker to meet the outage",
    )
    assert_health_shows_failures(other)
    restarted = workers(deployment, **shared)  # takes the store over, on a new web port
    assert_exactly_once(settle(ledger, restarted, deployment), ledger)
    assert other.alive()


@pytest.mark.parametrize("persistent", [True, False], ids=["aof", "no-persistence"])
def test_redis_killed_mid_stream_and_restarted(deployment, workers, tmp_path, persistent):
    redis = redis_server(tmp_path, persistent).start()
    try:
        worker = workers(
            deployment,
            MONITOR_REDIS_URL=f"redis://127.0.0.1:{redis.port}/0",
            MONITOR_JOIN_EXPIRY_INTERVAL="0.5",
        )
        ledger = Ledger()
        first = ledger.inferences_batch(1000)
        publish(deployment.broker.bootstrap, deployment.topics, first, ledger.feedback_for(first))
        valid = ledger.valid
        wait_until(lambda: worker.metric("monitor_events_total") >= valid, what="the first part")
        redis.kill()
        second = ledger.inferences_batch(1000)
        # feedback for inferences joined before the outage: only a Redis that kept its data can join it
        across = ledger.feedback_for(first[1:], invalid_every=10**9)
        publish(
            deployment.broker.bootstrap,
            deployment.topics,
            second,
            ledger.feedback_for(second) + across,
        )
        wait_until(
            lambda: worker.metric("monitor_store_errors_total", {"operation": "batch"}) > 0,
            what="the worker to meet the outage",
        )
        assert_health_shows_failures(worker)
        wait_until(  # the expiry sweep meets the outage too, and says so
            lambda: worker.metric("monitor_store_errors_total", {"operation": "join_expiry"}) > 0,
            what="the join expiry to count its failure",
        )
        redis.start()
        figures = settle(ledger, worker, deployment)
        resets = worker.metric("monitor_join_store_resets_total", {"store": "join"})
        if persistent:
            assert_exactly_once(figures, ledger)
            assert worker.metric("monitor_join_store_resets_total") == 0
        else:
            assert resets == 1  # the emptied store is reported, once
            assert (
                "Redis join store" in worker.log_path.read_text()
                and "was reset" in worker.log_path.read_text()
            )  # events exactly once; the pairs whose inference Redis forgot are never joined
            assert (figures.lost, figures.double_counted, figures.outcomes_double_counted) == (
                0,
                0,
                0,
            )
            assert figures.outcomes_lost == len(across), figures.line("no-persistence")
            print(figures.line("figures"))
    finally:
        redis.kill()


def test_worker_added_then_killed_mid_stream(deployment, workers, redis_url):
    shared = {"MONITOR_REDIS_URL": redis_url, "MONITOR_JOIN_TTL": "1h"}  # joins outlive a worker
    first_worker = workers(deployment, **shared)
    ledger = Ledger()
    first = ledger.inferences_batch(600)
    publish(deployment.broker.bootstrap, deployment.topics, first, ledger.feedback_for(first))
    wait_until(lambda: first_worker.metric("monitor_events_total") > 0, what="the first batches")
    joining = workers(deployment, **shared)  # rebalance mid-stream: 2 partitions, one each
    second = ledger.inferences_batch(2000)
    publish(deployment.broker.bootstrap, deployment.topics, second, ledger.feedback_for(second))
    wait_until(
        lambda: joining.metric("monitor_events_total") > 0,
        what="the joining worker's first batches",
    )
    print(
        f"events processed by the joining worker before its kill: {joining.metric('monitor_events_total'):.0f}"
    )
    joining.kill()  # rebalance again: its partition goes back to the first worker, mid-stream
    third = ledger.inferences_batch(600)
    publish(deployment.broker.bootstrap, deployment.topics, third, ledger.feedback_for(third))
    assert_exactly_once(settle(ledger, first_worker, deployment), ledger)


def assert_health_shows_failures(worker: WorkerProcess) -> None:
    """Where ``/health`` reports the ingest state, it shows the failing batches."""
    try:
        with urllib.request.urlopen(f"{worker.url}/health", timeout=5) as response:
            health = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # 503 once failing for long
        health = json.loads(exc.read())
    if "consecutive_failures" in health:
        assert health["status"] != "ok" and health["consecutive_failures"] > 0, health
