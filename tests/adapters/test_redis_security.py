"""Redis over TLS with AUTH: a real redis-server started here with ``--tls-port`` and ``--requirepass``;
the join store and the alert deduplicator connect with the options built from the settings."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests_support import missing_service
from tls_support import Certificates, make_certificates

from monitor.adapters.alert_sinks import AlertDeduplicator
from monitor.adapters.client_security import redis_client_options
from monitor.adapters.join_store import RedisJoinStore
from monitor.adapters.local_broker import free_port, wait_for_port
from monitor.alerts.state import Alert
from monitor.errors import ConfigError, StoreError
from monitor.settings import Settings

PASSWORD = "r3dis-Pa55"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("redis-tls"))


@pytest.fixture(scope="module")
def tls_redis(certs: Certificates, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A redis-server speaking only TLS, requiring a password and a client certificate."""
    binary = shutil.which("redis-server")
    if not binary:
        missing_service("redis-server")
    port = free_port()
    log = tmp_path_factory.mktemp("redis") / "redis.log"
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            str(certs.server_cert),
            "--tls-key-file",
            str(certs.server_key),
            "--tls-ca-cert-file",
            str(certs.ca),
            "--tls-auth-clients",
            "yes",
            "--requirepass",
            PASSWORD,
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    if not wait_for_port("127.0.0.1", port, 10):
        proc.kill()
        missing_service(f"redis-server with TLS ({log.read_text()[-300:]})")
    yield port
    proc.terminate()
    proc.wait(10)


def settings_for(
    port: int, certs: Certificates, password: str = PASSWORD, **overrides: object
) -> Settings:
    values = {
        "redis_url": f"rediss://:{password}@127.0.0.1:{port}/0",
        "redis_ssl_ca_file": str(certs.ca),
        "redis_ssl_cert_file": str(certs.client_cert),
        "redis_ssl_key_file": str(certs.client_key),
    }
    return Settings(**{**values, **overrides})


def join_store(settings: Settings, prefix: str) -> RedisJoinStore:
    assert settings.redis_dsn is not None
    return RedisJoinStore(settings.redis_dsn, 60.0, prefix, redis_client_options(settings))


def test_the_join_store_works_over_tls_with_auth(
    tls_redis: int, certs: Certificates, redis_prefix: str
) -> None:
    store = join_store(settings_for(tls_redis, certs), redis_prefix)
    store.setup()
    try:
        assert store.add_inferences([("r1", b"inference")], now=1.0) == []
        matched = store.add_feedback([("r1", "f1", b"feedback")], now=2.0).matches
        assert matched == [("r1", b"inference", b"feedback")]
    finally:
        store.close()


def test_the_deduplicator_works_over_tls_with_auth(
    tls_redis: int, certs: Certificates, redis_prefix: str
) -> None:
    settings = settings_for(tls_redis, certs)
    alert = Alert.firing("r", "warning", "m", "v1", 60.0, "summary")

    async def claims() -> list[bool]:
        dedup = AlertDeduplicator(
            settings.redis_dsn, prefix=redis_prefix, client_options=redis_client_options(settings)
        )
        try:
            return [await dedup.should_send(alert), await dedup.should_send(alert)]
        finally:
            await dedup.close()

    assert asyncio.run(claims()) == [
        True,
        False,
    ]  # the second claim saw the first one in the TLS Redis


@pytest.mark.parametrize("case", ["wrong password", "untrusted server", "no client certificate"])
def test_refusals_name_the_masked_url_and_never_the_password(
    tls_redis: int, certs: Certificates, case: str, redis_prefix: str
) -> None:
    settings = {
        "wrong password": settings_for(tls_redis, certs, password="Wr0ng-pa55word"),
        "untrusted server": settings_for(tls_redis, certs, redis_ssl_ca_file=str(certs.other_ca)),
        "no client certificate": settings_for(
            tls_redis, certs, redis_ssl_cert_file=None, redis_ssl_key_file=None
        ),
    }[case]
    store = join_store(settings, redis_prefix)
    with pytest.raises(StoreError) as info:
        store.setup()
    message = str(info.value)
    assert f"rediss://:***@127.0.0.1:{tls_redis}/0" in message
    assert PASSWORD not in message and "Wr0ng-pa55word" not in message


def test_plain_redis_urls_take_no_tls_settings(tmp_path: Path, certs: Certificates) -> None:
    assert redis_client_options(Settings(redis_url="redis://:pw@127.0.0.1:6379/0")) == {}
    with pytest.raises(ConfigError, match="need a rediss://"):
        redis_client_options(
            Settings(redis_url="redis://127.0.0.1:6379/0", redis_ssl_ca_file=str(certs.ca))
        )
    with pytest.raises(ConfigError, match="MONITOR_REDIS_SSL_CA_FILE='/missing.pem': no such file"):
        redis_client_options(
            Settings(redis_url="rediss://h:6380/0", redis_ssl_ca_file="/missing.pem")
        )
