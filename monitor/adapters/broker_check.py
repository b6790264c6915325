"""Whether the Kafka broker at ``MONITOR_KAFKA_BOOTSTRAP`` lets a client in, as one :class:`BrokerError`.

aiokafka raises only ``Unable to bootstrap from [...]`` when no address answers, and logs the cause
of each address (refused, unknown host, TLS, SASL) apart; a refused SCRAM login even escapes as a
bare ``KeyError``. :func:`broker_errors` turns a client start's failure into one error naming the
(masked) bootstrap addresses, the security protocol and each address's cause;
:func:`check_broker` is the start-up check of the commands: a client that connects, negotiates
TLS and SASL and reads the cluster's metadata, giving each address ``timeout_seconds``, then
connects to every broker that metadata advertises.

>>> print(describe_failure("127.0.0.1:9", "PLAINTEXT", ["[Errno 111] Connect call failed"]))
cannot connect to the Kafka broker at 127.0.0.1:9 (MONITOR_KAFKA_BOOTSTRAP, PLAINTEXT): \
[Errno 111] Connect call failed
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaConnectionError, KafkaError, UnsupportedSaslMechanismError

from monitor.adapters.client_security import kafka_client_options
from monitor.errors import BrokerError
from monitor.redact import mask_text
from monitor.settings import Settings

__all__ = ["CHECK_TIMEOUT_SECONDS", "broker_errors", "check_broker", "describe_failure"]

CHECK_TIMEOUT_SECONDS = 10.0  # per bootstrap address: connect, TLS, SASL, metadata
# What a client's start raises when it gets no usable connection; KeyError and ValueError are
# aiokafka's SCRAM client on a refused login (no server signature, or a wrong one).
_START_ERRORS = (KafkaError, OSError, TimeoutError, KeyError, ValueError)
_PER_ADDRESS = ("Unable connect to", "Unable to request metadata from")
_AIOKAFKA_LOG = logging.getLogger("aiokafka")  # aiokafka's client logs its bootstrap here


def describe_failure(bootstrap: str, security: str, causes: Sequence[str]) -> str:
    """The message of a failed connection: the addresses, the protocol and the causes."""
    return (
        f"cannot connect to the Kafka broker at {bootstrap} (MONITOR_KAFKA_BOOTSTRAP, {security}): "
        + "; ".join(causes)
    )


class _AddressCauses(logging.Filter):
    """Holds aiokafka's per-address bootstrap errors back from the log, for the one error."""

    def __init__(self, timeout_seconds: float | None, settings: Settings) -> None:
        super().__init__()
        self.timeout_seconds = timeout_seconds
        self.protocol = settings.kafka_security_protocol
        self.mechanism = settings.kafka_sasl_mechanism
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(_PER_ADDRESS):
            self.records.append(record)
            return False
        return True

    def causes(self, *, with_address: bool) -> list[str]:
        """The cause of each address that failed (``host:port: cause`` ``with_address``), in the
        order they were tried."""
        causes = []
        for record in self.records:
            args = record.args if isinstance(record.args, tuple) else ()
            if len(args) == 2:  # "Unable connect to node with id %s: %s": the caller names it
                causes.append(self.describe(args[1]))
                continue
            if len(args) != 3:
                causes.append(record.getMessage())
                continue
            host, port, error = args
            causes.append((f"{host}:{port}: " if with_address else "") + self.describe(error))
        return causes

    def describe(self, error: object) -> str:
        if isinstance(error, TimeoutError) and not str(error):
            wait = f" within {self.timeout_seconds:g} s" if self.timeout_seconds else ""
            if self.protocol.endswith("SSL"):  # a plaintext listener waits for a Kafka request
                return (
                    f"no answer{wait} over TLS (a plaintext listener never answers a TLS "
                    "handshake: is MONITOR_KAFKA_SECURITY_PROTOCOL right for this port?)"
                )
            return f"no answer{wait}"
        if isinstance(error, UnsupportedSaslMechanismError):  # its text is the connection's repr
            return (
                f"the broker offers no SASL {self.mechanism} on this listener (a listener without "
                "SASL, or with other mechanisms): check MONITOR_KAFKA_SECURITY_PROTOCOL and "
                "MONITOR_KAFKA_SASL_MECHANISM"
            )
        if isinstance(error, KafkaConnectionError) and not self.protocol.endswith("SSL"):
            text = " ".join(str(error).split())
            if text.endswith("closed"):  # a TLS listener drops a plaintext client's first bytes
                return (
                    f"{text} (a TLS listener closes a plaintext client: is the broker's port TLS, "
                    "MONITOR_KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL?)"
                )
        # aiokafka's SCRAM client on a server-final message without the signature (an error)
        if isinstance(error, KeyError):
            return "the broker refused the SASL login"
        if isinstance(error, ValueError):
            return f"the SASL exchange failed: {error}"
        text = " ".join(str(error).split())
        return text or type(error).__name__


def _security(settings: Settings) -> str:
    protocol = settings.kafka_security_protocol
    if protocol.startswith("SASL_"):
        return f"{protocol} {settings.kafka_sasl_mechanism} as {settings.kafka_sasl_username!r}"
    return protocol


def _secrets(settings: Settings) -> list[str | None]:
    return [
        secret.get_secret_value() if secret is not None else None
        for secret in (settings.kafka_sasl_password, settings.kafka_ssl_key_password)
    ]


@contextmanager
def broker_errors(
    settings: Settings, bootstrap: str | None = None, *, timeout_seconds: float | None = None
) -> Iterator[None]:
    """Raise a Kafka client's failure to start inside the block as one :class:`BrokerError`.

    ``bootstrap`` defaults to ``settings.kafka_bootstrap``; ``timeout_seconds`` is what the client
    was given per request, to say how long an address that never answered was waited for.
    """
    address = bootstrap or settings.kafka_bootstrap or ""
    held = _AddressCauses(timeout_seconds, settings)
    _AIOKAFKA_LOG.addFilter(held)
    try:
        yield
    except _START_ERRORS as exc:
        causes = held.causes(with_address="," in address)
        if not causes or isinstance(exc, KeyError | ValueError):
            causes.append(held.describe(exc))
        message = describe_failure(address, _security(settings), causes)
        raise BrokerError(mask_text(message, secrets=_secrets(settings))) from None
    finally:
        _AIOKAFKA_LOG.removeFilter(held)
    for record in held.records:  # an address failed but another answered: still worth a line
        _AIOKAFKA_LOG.handle(record)


async def check_broker(
    settings: Settings,
    bootstrap: str | None = None,
    *,
    timeout_seconds: float = CHECK_TIMEOUT_SECONDS,
) -> None:
    """A :class:`BrokerError` unless a client gets in at ``bootstrap`` (default
    ``MONITOR_KAFKA_BOOTSTRAP``) with the settings' TLS and SASL, each address answering within
    ``timeout_seconds``."""
    address = bootstrap or settings.kafka_bootstrap or ""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=address,
        request_timeout_ms=int(timeout_seconds * 1000),
        **kafka_client_options(settings),
    )
    try:
        with broker_errors(settings, address, timeout_seconds=timeout_seconds):
            await admin.start()
        # aiokafka's admin keeps its client private; the metadata it bootstrapped names the brokers
        await _check_advertised(admin._client, settings, address, timeout_seconds)
    finally:
        await admin.close()


async def _check_advertised(
    client: AIOKafkaClient, settings: Settings, address: str, timeout_seconds: float
) -> None:
    """Every broker the metadata advertises lets the client in too: clients produce and fetch at
    the advertised addresses, not the bootstrap one (a TLS proxy in front of a broker that
    advertises its plaintext port, a compose-network name seen from the host)."""
    for broker in sorted(client.cluster.brokers(), key=lambda b: b.nodeId):
        held = _AddressCauses(timeout_seconds, settings)
        _AIOKAFKA_LOG.addFilter(held)
        try:
            ready = await client.ready(broker.nodeId)
        finally:
            _AIOKAFKA_LOG.removeFilter(held)
        if ready:
            continue
        cause = "; ".join(held.causes(with_address=False)) or "no connection"
        advertised = (
            f"it answered, but the broker it advertises (node {broker.nodeId} at "
            f"{broker.host}:{broker.port}) does not: {cause}. Clients produce and fetch at "
            "the advertised address: set the broker's advertised listener (Kafka's "
            "advertised.listeners) to an address this machine reaches with "
            f"{settings.kafka_security_protocol}"
        )
        message = describe_failure(address, _security(settings), [advertised])
        raise BrokerError(mask_text(message, secrets=_secrets(settings)))
