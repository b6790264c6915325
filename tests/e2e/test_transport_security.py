"""A worker (Faust consumer, producer and topic creation) reaching the broker only over mutual TLS."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests_support import (
    E2E_REFRESH_SECONDS,
    inference,
    missing_service,
    reader_for,
    wait_until,
)
from tls_support import Stunnel, make_certificates, other_free_port

from monitor.adapters.client_security import kafka_client_options
from monitor.adapters.local_broker import LocalBroker, free_port
from monitor.adapters.producer import EventProducer
from monitor.adapters.topics import ensure_topics
from monitor.adapters.worker_process import WorkerProcess
from monitor.settings import Settings


@pytest.fixture()
def mtls(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """(TLS bootstrap, MONITOR_KAFKA_* security env); the broker's plaintext port is not advertised."""
    certs = make_certificates(tmp_path / "tls")
    tls_port = free_port()
    try:
        broker = LocalBroker(
            other_free_port(tls_port), advertised_port=tls_port, log_path=tmp_path / "broker.log"
        ).start()
    except Exception as exc:
        missing_service(f"Tansu broker ({exc})")
        raise
    tunnel = Stunnel(broker.port, certs, tmp_path, port=tls_port, require_client_cert=True)
    try:
        tunnel.start()
        yield (
            f"127.0.0.1:{tls_port}",
            {
                "MONITOR_KAFKA_SECURITY_PROTOCOL": "SSL",
                "MONITOR_KAFKA_SSL_CA_FILE": str(certs.ca),
                "MONITOR_KAFKA_SSL_CERT_FILE": str(certs.client_cert),
                "MONITOR_KAFKA_SSL_KEY_FILE": str(certs.client_key),
            },
        )
    finally:
        tunnel.stop()
        broker.stop()


def test_a_worker_consumes_and_dead_letters_over_mutual_tls(
    mtls, tmp_path: Path, unique: str
) -> None:
    bootstrap, security = mtls
    topics = {
        "inference": f"t{unique}.inference",
        "feedback": f"t{unique}.feedback",
        "dlq": f"t{unique}.dlq",
    }
    options = kafka_client_options(
        Settings(
            kafka_bootstrap=bootstrap,
            **{k.removeprefix("MONITOR_").lower(): v for k, v in security.items()},
        )
    )
    asyncio.run(
        ensure_topics(
            bootstrap, {topics["inference"]: 2, topics["feedback"]: 2, topics["dlq"]: 1}, options
        )
    )
    worker = WorkerProcess(
        {
            "MONITOR_KAFKA_BOOTSTRAP": bootstrap,
            "MONITOR_INFERENCE_TOPIC": topics["inference"],
            "MONITOR_FEEDBACK_TOPIC": topics["feedback"],
            "MONITOR_DLQ_TOPIC": topics["dlq"],
            "MONITOR_APP_ID": f"t{unique}-app",
            "MONITOR_CLICKHOUSE_URL": f"chdb://{tmp_path / 'store'}",
            "MONITOR_WINDOW": "60s",
            "MONITOR_PARTITIONS": "2",
            "MONITOR_SESSION_TIMEOUT": "6",
            "MONITOR_REFRESH_INTERVAL": str(E2E_REFRESH_SECONDS),
            "MONITOR_BATCH_WITHIN": "0.2",
            **security,
        },
        tmp_path / "worker.log",
        free_port(),
    ).start()
    try:
        worker.wait_ready()
        now = time.time()

        async def send() -> None:
            async with EventProducer(
                bootstrap, topics=topics, batch_size=10, client_options=options
            ) as producer:
                await producer.send("inference", [inference(f"r{i}", now) for i in range(30)])
                await producer.send_raw(
                    topics["inference"], b"\xff not json", key=b"k", partition=0
                )

        asyncio.run(send())
        reader = reader_for(worker)
        wait_until(
            lambda: (
                reader.query(
                    "SELECT sum(value) FROM monitor.metric_windows FINAL "
                    "WHERE metric = 'inference_events'"
                ).rows[0][0]
                == 30
            ),
            timeout=60,
            what="30 events written through the TLS consumer",
        )
        # the dead letter went out through the worker's TLS producer
        wait_until(
            lambda: worker.metric("monitor_dlq_messages_total") >= 1,
            timeout=30,
            what="the dead letter",
        )
    finally:
        worker.kill()
