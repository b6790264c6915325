"""End-to-end fixtures: a worker subprocess on the session broker, with its own topics and store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests_support import (
    E2E_REFRESH_SECONDS,
    call_failed,
    delete_redis_keys,
    dump_stacks,
    print_log_tail,
)

from monitor.adapters.local_broker import LocalBroker, free_port
from monitor.adapters.topics import ensure_topics
from monitor.adapters.worker_process import WorkerProcess


@dataclass
class Deployment:
    """Topics, store and settings shared by the workers of one test."""

    broker: LocalBroker
    tmp: Path
    prefix: str
    window: str = "60s"
    partitions: int = 2

    @property
    def topics(self) -> dict[str, str]:
        return {
            "inference": f"{self.prefix}.inference",
            "feedback": f"{self.prefix}.feedback",
            "dlq": f"{self.prefix}.dlq",
        }

    def env(self, store: str = "store", **extra: str) -> dict[str, str]:
        return {
            "MONITOR_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "MONITOR_INFERENCE_TOPIC": self.topics["inference"],
            "MONITOR_FEEDBACK_TOPIC": self.topics["feedback"],
            "MONITOR_DLQ_TOPIC": self.topics["dlq"],
            "MONITOR_APP_ID": f"{self.prefix}-app",
            "MONITOR_CLICKHOUSE_URL": f"chdb://{self.tmp / store}",
            "MONITOR_WINDOW": self.window,
            "MONITOR_PARTITIONS": str(self.partitions),
            "MONITOR_SESSION_TIMEOUT": "6",
            "MONITOR_REFRESH_INTERVAL": str(E2E_REFRESH_SECONDS),
            "MONITOR_BATCH_WITHIN": "0.2",
            **extra,
        }

    def create_topics(self) -> None:
        t = self.topics
        asyncio.run(
            ensure_topics(
                self.broker.bootstrap,
                {t["inference"]: self.partitions, t["feedback"]: self.partitions, t["dlq"]: 1},
            )
        )


@pytest.fixture()
def deployment(
    broker: LocalBroker, tmp_path: Path, unique: str, request: pytest.FixtureRequest
) -> Iterator[Deployment]:
    """A test's topics and settings. Its workers' keys in the shared Redis (every app id of the test
    starts with the deployment prefix: joins, shadow joins, alert de-duplication) are deleted
    afterwards when the test used ``redis_url``."""
    d = Deployment(broker, tmp_path, f"t{unique}")
    d.create_topics()
    yield d
    if "redis_url" in request.fixturenames:
        delete_redis_keys(request.getfixturevalue("redis_url"), f"{d.prefix}-*")


@pytest.fixture()
def start_worker(
    deployment: Deployment, request: pytest.FixtureRequest
) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(store: str = "store", **extra: str) -> WorkerProcess:
        worker = WorkerProcess(
            deployment.env(store, **extra),
            deployment.tmp / f"worker{len(started)}.log",
            free_port(),
        )
        started.append(worker.start())
        worker.wait_ready()
        return worker

    yield start
    failed = call_failed(request)
    for worker in started:
        if failed:
            dump_stacks(worker)  # what a worker that stopped making progress waits on
        worker.kill()
    if failed:
        for worker in started:
            print_log_tail(worker.log_path)
