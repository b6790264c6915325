"""Kafka clients over TLS (stunnel in front of a real Tansu broker that advertises the TLS port) and
SASL/SCRAM against Tansu's own ``--authentication``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from tests_support import inference, missing_service
from tls_support import Certificates, Stunnel, make_certificates, other_free_port

from monitor.adapters.broker_check import check_broker
from monitor.adapters.client_security import faust_broker_credentials, kafka_client_options
from monitor.adapters.local_broker import LocalBroker, free_port
from monitor.adapters.producer import EventProducer
from monitor.adapters.topics import ensure_topics
from monitor.errors import BrokerError, ConfigError
from monitor.settings import Settings


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def mtls_bootstrap(certs: Certificates, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Tansu behind stunnel that requires a client certificate; metadata points at the TLS port."""
    workdir = tmp_path_factory.mktemp("mtls-broker")
    tls_port = free_port()
    try:
        broker = LocalBroker(
            other_free_port(tls_port), advertised_port=tls_port, log_path=workdir / "broker.log"
        ).start()
    except Exception as exc:
        missing_service(f"Tansu broker ({exc})")
        raise
    tunnel = Stunnel(broker.port, certs, workdir, port=tls_port, require_client_cert=True)
    try:
        tunnel.start()
        yield f"127.0.0.1:{tls_port}"
    finally:
        tunnel.stop()
        broker.stop()


def tls_settings(bootstrap: str, certs: Certificates, **overrides: object) -> Settings:
    values = {
        "kafka_bootstrap": bootstrap,
        "kafka_security_protocol": "SSL",
        "kafka_ssl_ca_file": str(certs.ca),
        "kafka_ssl_cert_file": str(certs.client_cert),
        "kafka_ssl_key_file": str(certs.client_key),
    }
    return Settings(**{**values, **overrides})


def consume(bootstrap: str, topic: str, expected: int, options: dict) -> list[dict]:
    async def run() -> list[dict]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
            **options,
        )
        await consumer.start()
        records: list[dict] = []
        try:
            deadline = time.monotonic() + 30
            while len(records) < expected and time.monotonic() < deadline:
                for messages in (await consumer.getmany(timeout_ms=500)).values():
                    for m in messages:
                        value = orjson.loads(m.value)
                        records.extend(value if isinstance(value, list) else [value])
        finally:
            await consumer.stop()
        return records

    return asyncio.run(run())


def test_events_round_trip_over_mutual_tls(
    mtls_bootstrap: str, certs: Certificates, unique: str
) -> None:
    settings = tls_settings(mtls_bootstrap, certs)
    options = kafka_client_options(settings)
    topic = f"tls-{unique}"
    events = [inference(f"r{i}", time.time()) for i in range(20)]

    async def produce() -> None:
        await asyncio.wait_for(ensure_topics(mtls_bootstrap, {topic: 2}, options), 30)
        async with EventProducer(
            mtls_bootstrap, topics={"inference": topic}, batch_size=5, client_options=options
        ) as producer:
            report = await producer.send("inference", events)
        assert report.sent == 20 and not report.rejected

    asyncio.run(produce())
    got = consume(mtls_bootstrap, topic, 20, kafka_client_options(settings))
    assert sorted(e["request_id"] for e in got) == sorted(e["request_id"] for e in events)


def refused(bootstrap: str, options: dict) -> BaseException | None:
    """The error ``ensure_topics`` ends with, or ``None`` if the broker let the client in."""
    try:
        asyncio.run(asyncio.wait_for(ensure_topics(bootstrap, {"never-created": 1}, options), 20))
    except (
        KafkaError,
        OSError,
        KeyError,
        TimeoutError,
    ) as exc:  # aiokafka's SCRAM client raises KeyError
        return exc
    return None


def test_a_client_without_a_certificate_is_refused(
    mtls_bootstrap: str, certs: Certificates
) -> None:
    settings = tls_settings(
        mtls_bootstrap, certs, kafka_ssl_cert_file=None, kafka_ssl_key_file=None
    )
    assert refused(mtls_bootstrap, kafka_client_options(settings)) is not None


def test_a_broker_certificate_from_another_ca_is_refused(
    mtls_bootstrap: str, certs: Certificates
) -> None:
    settings = tls_settings(mtls_bootstrap, certs, kafka_ssl_ca_file=str(certs.other_ca))
    assert refused(mtls_bootstrap, kafka_client_options(settings)) is not None


def test_plaintext_to_a_tls_port_is_refused(mtls_bootstrap: str, certs: Certificates) -> None:
    assert refused(mtls_bootstrap, kafka_client_options(Settings())) is not None


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"])
def test_sasl_with_unknown_credentials_is_refused(
    scram_broker: LocalBroker, mechanism: str
) -> None:
    settings = Settings(
        kafka_bootstrap=scram_broker.bootstrap,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username="mallory",
        kafka_sasl_password="not-the-password",
    )
    error = refused(scram_broker.bootstrap, kafka_client_options(settings))
    assert error is not None
    assert "not-the-password" not in str(error)


def test_the_authenticating_broker_refuses_clients_without_sasl(scram_broker: LocalBroker) -> None:
    assert refused(scram_broker.bootstrap, kafka_client_options(Settings())) is not None


def test_sasl_over_tls_reaches_the_broker_through_tls(
    scram_broker: LocalBroker, certs: Certificates, tmp_path: Path
) -> None:
    """SASL_SSL: the TLS layer is passed (our CA) and the SCRAM exchange reaches the broker behind it."""
    tunnel = Stunnel(scram_broker.port, certs, tmp_path).start()
    try:
        bootstrap = f"127.0.0.1:{tunnel.port}"
        base = {
            "kafka_bootstrap": bootstrap,
            "kafka_security_protocol": "SASL_SSL",
            "kafka_ssl_ca_file": str(certs.ca),
            "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_sasl_username": "mallory",
            "kafka_sasl_password": "not-the-password",
        }
        assert refused(bootstrap, kafka_client_options(Settings(**base))) is not None
        log = (tmp_path / f"stunnel-{tunnel.port}.log").read_text()
        assert (
            "connected remote server" in log
        )  # TLS was accepted and the bytes went on to the broker
    finally:
        tunnel.stop()


def test_faust_credentials_follow_the_protocol(certs: Certificates) -> None:
    import faust

    assert faust_broker_credentials(Settings()) is None
    ssl_credentials = faust_broker_credentials(tls_settings("b:9093", certs))
    assert isinstance(ssl_credentials, faust.SSLCredentials)
    sasl = faust_broker_credentials(
        Settings(
            kafka_security_protocol="SASL_SSL",
            kafka_ssl_ca_file=str(certs.ca),
            kafka_sasl_mechanism="SCRAM-SHA-256",
            kafka_sasl_username="svc",
            kafka_sasl_password="pw",
        )
    )
    assert isinstance(sasl, faust.SASLCredentials)
    assert (sasl.protocol.value, sasl.mechanism.value, sasl.username, sasl.password) == (
        "SASL_SSL",
        "SCRAM-SHA-256",
        "svc",
        "pw",
    )
    assert "pw" not in repr(sasl)
    plain = faust_broker_credentials(
        Settings(
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="PLAIN",
            kafka_sasl_username="svc",
            kafka_sasl_password="pw",
        )
    )
    assert (plain.protocol.value, plain.mechanism.value, plain.ssl_context) == (
        "SASL_PLAINTEXT",
        "PLAIN",
        None,
    )


def test_configuration_mistakes_name_the_setting(certs: Certificates, tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match="MONITOR_KAFKA_SASL_USERNAME and MONITOR_KAFKA_SASL_PASSWORD"
    ):
        kafka_client_options(Settings(kafka_security_protocol="SASL_SSL"))
    with pytest.raises(
        ConfigError, match="MONITOR_KAFKA_SSL_CA_FILE='/nonexistent/ca.pem': no such file"
    ):
        kafka_client_options(
            Settings(kafka_security_protocol="SSL", kafka_ssl_ca_file="/nonexistent/ca.pem")
        )
    with pytest.raises(ConfigError, match="MONITOR_KAFKA_SSL_KEY_FILE is set without"):
        kafka_client_options(
            Settings(kafka_security_protocol="SSL", kafka_ssl_key_file=str(certs.client_key))
        )
    wrong_key = tmp_path / "wrong.key"
    wrong_key.write_text(certs.server_key.read_text())
    with pytest.raises(ConfigError, match="cannot load the client certificate"):
        kafka_client_options(tls_settings("b:9093", certs, kafka_ssl_key_file=str(wrong_key)))


def plaintext_broker(tmp_path: Path) -> LocalBroker:
    """A broker of the test's own, on a plaintext port, advertising that port."""
    broker = LocalBroker(free_port(), log_path=tmp_path / "broker.log")
    try:
        return broker.start()
    except Exception as exc:
        missing_service(f"Tansu broker ({exc})")
        raise


def test_the_start_check_names_an_advertised_broker_the_client_cannot_reach(
    certs: Certificates, mtls_bootstrap: str, tmp_path: Path
) -> None:
    """TLS in front of a broker that advertises its plaintext port: the bootstrap answers over
    TLS, then every produce and fetch goes to the plaintext port. The check says so at start,
    instead of a producer that confirms nothing for 40 s or a worker that never fetches."""
    broker = plaintext_broker(tmp_path)
    tunnel = Stunnel(broker.port, certs, tmp_path)
    try:
        tunnel.start()
        bootstrap = f"127.0.0.1:{tunnel.port}"
        settings = tls_settings(bootstrap, certs, kafka_ssl_cert_file=None, kafka_ssl_key_file=None)
        with pytest.raises(BrokerError) as refused_at_start:
            asyncio.run(check_broker(settings, timeout_seconds=3))
    finally:
        tunnel.stop()
        broker.stop()
    message = str(refused_at_start.value)
    assert f"at {bootstrap} (MONITOR_KAFKA_BOOTSTRAP, SSL): it answered" in message, message
    assert "the broker it advertises (node " in message and f"127.0.0.1:{broker.port})" in message
    assert "advertised listener" in message
    # the same check passes where the broker advertises the TLS port
    asyncio.run(check_broker(tls_settings(mtls_bootstrap, certs)))


def test_a_protocol_that_does_not_match_the_listener_is_named_in_the_start_error(
    certs: Certificates, mtls_bootstrap: str, tmp_path: Path
) -> None:
    """TLS to a plaintext port, plaintext to a TLS port, SASL to a port without it: each error
    says which setting to look at, not a bare timeout, 'closed' or a connection's repr."""
    broker = plaintext_broker(tmp_path)

    def start_error(settings: Settings) -> str:
        with pytest.raises(BrokerError) as refused_at_start:
            asyncio.run(check_broker(settings, timeout_seconds=3))
        return str(refused_at_start.value)

    try:
        tls_to_plaintext = start_error(tls_settings(broker.bootstrap, certs))
        sasl_to_plaintext = start_error(
            Settings(
                kafka_bootstrap=broker.bootstrap,
                kafka_security_protocol="SASL_PLAINTEXT",
                kafka_sasl_username="monitor",
                kafka_sasl_password="pw",
            )
        )
    finally:
        broker.stop()
    plaintext_to_tls = start_error(Settings(kafka_bootstrap=mtls_bootstrap))
    assert "no answer within 3 s over TLS (a plaintext listener never answers" in tls_to_plaintext
    assert "MONITOR_KAFKA_SECURITY_PROTOCOL" in tls_to_plaintext
    assert "closed (a TLS listener closes a plaintext client" in plaintext_to_tls, plaintext_to_tls
    assert "offers no SASL SCRAM-SHA-512 on this listener" in sasl_to_plaintext, sasl_to_plaintext
    assert "AIOKafkaConnection" not in sasl_to_plaintext
    assert "MONITOR_KAFKA_SASL_MECHANISM" in sasl_to_plaintext
