"""The broker check of the commands: one BrokerError naming the address and the cause when nothing
listens, a name does not resolve or a server never answers; silent when the real broker answers."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator

import pytest
from tls_support import other_free_port

from monitor.adapters.broker_check import broker_errors, check_broker
from monitor.adapters.local_broker import LocalBroker, free_port
from monitor.adapters.producer import EventProducer
from monitor.errors import BrokerError
from monitor.settings import Settings


def check(bootstrap: str, timeout_seconds: float = 10.0, **settings: object) -> None:
    asyncio.run(
        check_broker(
            Settings(kafka_bootstrap=bootstrap, **settings),  # type: ignore[arg-type]
            timeout_seconds=timeout_seconds,
        )
    )


@pytest.fixture()
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never answers (a Kafka request waits forever)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_nothing_listening_is_one_error_naming_the_address_and_the_refusal() -> None:
    port = free_port()
    with pytest.raises(BrokerError) as error:
        check(f"127.0.0.1:{port}")
    assert str(error.value) == (
        f"cannot connect to the Kafka broker at 127.0.0.1:{port} (MONITOR_KAFKA_BOOTSTRAP, "
        f"PLAINTEXT): [Errno 111] Connect call failed ('127.0.0.1', {port})"
    )


def test_each_address_that_failed_is_named_with_its_own_cause() -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port},broker.invalid:9092"
    with pytest.raises(BrokerError) as error:
        check(bootstrap)
    message = str(error.value)
    assert message.startswith(f"cannot connect to the Kafka broker at {bootstrap} (")
    assert f"127.0.0.1:{port}: [Errno 111] Connect call failed" in message
    assert "broker.invalid:9092: [Errno " in message  # the resolver's own words vary


def test_a_server_that_never_answers_fails_within_the_timeout(silent_server: int) -> None:
    started = time.monotonic()
    with pytest.raises(BrokerError) as error:
        check(f"127.0.0.1:{silent_server}", timeout_seconds=1.0)
    assert time.monotonic() - started < 5
    assert str(error.value).endswith("PLAINTEXT): no answer within 1 s")


def test_the_sasl_password_never_appears(silent_server: int) -> None:
    with pytest.raises(BrokerError) as error:
        check(
            f"127.0.0.1:{silent_server}",
            timeout_seconds=1.0,
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="PLAIN",
            kafka_sasl_username="monitor",
            kafka_sasl_password="pw-check-secret",
        )
    assert "(MONITOR_KAFKA_BOOTSTRAP, SASL_PLAINTEXT PLAIN as 'monitor')" in str(error.value)
    assert "pw-check-secret" not in str(error.value)


def test_a_failed_client_start_inside_broker_errors_closes_the_producer(recwarn) -> None:
    """EventProducer closes the aiokafka producer whose start failed (no "Unclosed AIOKafkaProducer")."""
    bootstrap = f"127.0.0.1:{free_port()}"

    async def start() -> None:
        with broker_errors(Settings(kafka_bootstrap=bootstrap)):
            await EventProducer(bootstrap).start()

    with pytest.raises(BrokerError, match="Connect call failed"):
        asyncio.run(start())
    import gc

    gc.collect()
    assert not [w for w in recwarn if "Unclosed AIOKafkaProducer" in str(w.message)]


def test_the_real_broker_passes_and_a_dead_address_beside_it_is_still_logged(
    broker: LocalBroker, caplog: pytest.LogCaptureFixture
) -> None:
    dead = other_free_port(broker.port)
    with caplog.at_level(logging.WARNING, logger="aiokafka"):
        for _ in range(20):  # aiokafka tries the addresses in a random order
            check(f"127.0.0.1:{dead},{broker.bootstrap}")
            if caplog.records:
                break
    assert any(f"127.0.0.1:{dead}" in r.getMessage() for r in caplog.records)
    assert logging.getLogger("aiokafka").filters == []
