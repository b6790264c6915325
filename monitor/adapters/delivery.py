"""How long a message may wait for the broker: the one home of the producer's delivery timeout,
free of imports so that the CLI can show it as a default without loading aiokafka."""

from __future__ import annotations

__all__ = ["DELIVERY_TIMEOUT"]

DELIVERY_TIMEOUT = 40.0  # seconds a message may wait for the broker's confirmation (aiokafka's)
