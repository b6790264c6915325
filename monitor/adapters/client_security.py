"""TLS contexts and credentials for every client the monitor builds, from its settings.

The one home of transport security: the Faust app (``broker_credentials``), every aiokafka client
(producers, topic creation, the CLI's replay, the benchmark), Redis (``rediss://``), ClickHouse
(``https://``) and the HTTP alert sinks take their options from here. Files are checked when a
client is built, and every error names the setting to fix.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError
from monitor.settings import Settings

__all__ = [
    "clickhouse_client_options",
    "faust_broker_credentials",
    "http_ssl_context",
    "kafka_client_options",
    "kafka_ssl_context",
    "redis_client_options",
    "tls_context",
]


def _existing(path: str | None, setting: str) -> str | None:
    if path is None:
        return None
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"{setting}={path!r}: no such file")
    return str(file)


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def tls_context(
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    key_password: str | None = None,
    *,
    check_hostname: bool = True,
    prefix: str = "MONITOR",
) -> ssl.SSLContext:
    """A client TLS context: system CAs or ``ca_file``, and a client certificate for mutual TLS.

    ``prefix`` names the settings in errors (``MONITOR_KAFKA`` -> ``MONITOR_KAFKA_SSL_CA_FILE``).
    """
    context = ssl.create_default_context(cafile=_existing(ca_file, f"{prefix}_SSL_CA_FILE"))
    context.check_hostname = check_hostname
    if not check_hostname:
        context.verify_mode = ssl.CERT_REQUIRED  # the chain is still verified
    if cert_file or key_file:
        if not cert_file:
            raise ConfigError(f"{prefix}_SSL_KEY_FILE is set without {prefix}_SSL_CERT_FILE")
        cert = _existing(cert_file, f"{prefix}_SSL_CERT_FILE")
        key = _existing(key_file, f"{prefix}_SSL_KEY_FILE")
        try:
            context.load_cert_chain(cert, key, password=key_password)  # type: ignore[arg-type]
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"{prefix}_SSL_CERT_FILE / _KEY_FILE: cannot load the client certificate: {exc}"
            ) from None
    return context


def _sasl_credentials(settings: Settings) -> tuple[str, str]:
    username, password = settings.kafka_sasl_username, _secret(settings.kafka_sasl_password)
    if not (username and password):
        raise ConfigError(
            f"MONITOR_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol} needs "
            "MONITOR_KAFKA_SASL_USERNAME and MONITOR_KAFKA_SASL_PASSWORD"
        )
    return username, password


def kafka_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The broker TLS context for ``SSL`` and ``SASL_SSL``; ``None`` for plaintext protocols."""
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    return tls_context(
        settings.kafka_ssl_ca_file,
        settings.kafka_ssl_cert_file,
        settings.kafka_ssl_key_file,
        _secret(settings.kafka_ssl_key_password),
        check_hostname=settings.kafka_ssl_check_hostname,
        prefix="MONITOR_KAFKA",
    )


def kafka_client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (producer, consumer, admin).

    >>> kafka_client_options(Settings())
    {'security_protocol': 'PLAINTEXT'}
    """
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    context = kafka_ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if protocol.startswith("SASL_"):
        username, password = _sasl_credentials(settings)
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=username,
            sasl_plain_password=password,
        )
    return options


def faust_broker_credentials(settings: Settings) -> Any:
    """``broker_credentials`` for ``faust.App``: SSL or SASL credentials, ``None`` for plaintext."""
    import faust

    protocol = settings.kafka_security_protocol
    context = kafka_ssl_context(settings)
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    if protocol.startswith("SASL_"):
        username, password = _sasl_credentials(settings)
        # faust picks SASL_SSL when a context is given, SASL_PLAINTEXT otherwise
        return faust.SASLCredentials(
            username=username,
            password=password,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    return None


def redis_client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis.from_url``: CA and client certificate for ``rediss://``.

    The password (Redis AUTH) travels in the secret URL: ``rediss://:password@host:6380/0``.
    """
    options: dict[str, Any] = {}
    url = settings.redis_dsn or ""
    tls_settings = (
        settings.redis_ssl_ca_file,
        settings.redis_ssl_cert_file,
        settings.redis_ssl_key_file,
    )
    if not url.startswith("rediss://"):
        if any(tls_settings):
            raise ConfigError(
                "MONITOR_REDIS_SSL_CA_FILE / _CERT_FILE / _KEY_FILE need a rediss:// MONITOR_REDIS_URL"
            )
        return options
    options["ssl_cert_reqs"] = "required"
    if settings.redis_ssl_ca_file:
        options["ssl_ca_certs"] = _existing(settings.redis_ssl_ca_file, "MONITOR_REDIS_SSL_CA_FILE")
    if settings.redis_ssl_cert_file or settings.redis_ssl_key_file:
        options["ssl_certfile"] = _existing(
            settings.redis_ssl_cert_file, "MONITOR_REDIS_SSL_CERT_FILE"
        )
        options["ssl_keyfile"] = _existing(
            settings.redis_ssl_key_file, "MONITOR_REDIS_SSL_KEY_FILE"
        )
    return options


def clickhouse_client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``clickhouse_connect.get_client`` (password, CA, client certificate).

    Used for ``https://`` servers; an embedded (``chdb://``) store takes none.
    """
    options: dict[str, Any] = {}
    if settings.clickhouse_password is not None:
        options["password"] = settings.clickhouse_password.get_secret_value()
    tls = (
        settings.clickhouse_ssl_ca_file,
        settings.clickhouse_ssl_cert_file,
        settings.clickhouse_ssl_key_file,
    )
    if any(tls) or not settings.clickhouse_ssl_verify:
        if not settings.clickhouse_url.startswith("https://"):
            raise ConfigError(
                "MONITOR_CLICKHOUSE_SSL_CA_FILE / _CERT_FILE / _KEY_FILE / _VERIFY need an "
                "https:// MONITOR_CLICKHOUSE_URL"
            )
        options["verify"] = settings.clickhouse_ssl_verify
    if settings.clickhouse_ssl_ca_file:
        options["ca_cert"] = _existing(
            settings.clickhouse_ssl_ca_file, "MONITOR_CLICKHOUSE_SSL_CA_FILE"
        )
    if settings.clickhouse_ssl_cert_file or settings.clickhouse_ssl_key_file:
        if not settings.clickhouse_ssl_cert_file:
            raise ConfigError(
                "MONITOR_CLICKHOUSE_SSL_KEY_FILE is set without MONITOR_CLICKHOUSE_SSL_CERT_FILE"
            )
        options["client_cert"] = _existing(
            settings.clickhouse_ssl_cert_file, "MONITOR_CLICKHOUSE_SSL_CERT_FILE"
        )
        options["client_cert_key"] = _existing(
            settings.clickhouse_ssl_key_file, "MONITOR_CLICKHOUSE_SSL_KEY_FILE"
        )
    return options


def http_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of the Alertmanager and webhook sinks: ``None`` uses the system CAs."""
    if not settings.alert_sink_ssl_ca_file:
        return None
    return tls_context(settings.alert_sink_ssl_ca_file, prefix="MONITOR_ALERT_SINK")
