"""Create the monitor's topics on a broker (idempotent)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from monitor.settings import Settings

__all__ = ["ensure_topics", "output_topics"]


def output_topics(s: Settings) -> dict[str, int]:
    """The topics a worker writes besides its agents' (which Faust declares), with their partitions:
    dead letters, alerts unless ``MONITOR_ALERTS_TO_KAFKA`` is off, and the judge's records when
    judging is on. A worker declares them at start through its producer
    (``streams.delivery.declare_output_topics``, which says why).

    >>> output_topics(Settings(alerts_to_kafka=False))
    {'monitor.contract.dlq': 1}
    """
    topics = {s.dlq_topic: 1}
    if s.alerts_to_kafka:
        topics[s.alerts_topic] = 1
    if s.judge_enabled:
        topics[s.judge_records_topic] = 1
    return topics


async def ensure_topics(
    bootstrap: str, topics: dict[str, int], client_options: Mapping[str, Any] | None = None
) -> None:
    """Create each ``name: partitions`` topic that does not exist yet.

    ``client_options``: TLS and SASL, from ``client_security.kafka_client_options(settings)``.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **dict(client_options or {}))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, n, 1) for name, n in topics.items() if name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
