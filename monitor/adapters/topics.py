"""Create the monitor's topics on a broker (idempotent)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

__all__ = ["ensure_topics"]


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
