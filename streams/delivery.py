"""Waiting for the broker to confirm sends, for a bounded time.

A send through the app's producer returns a future that the broker's acknowledgement resolves.
Faust's producer gives up on a request only after ``producer_request_timeout`` (20 minutes), and a
producer that stalls on one topic holds the others' deliveries with it: a batch waiting for its
detector values then waited, its worker silent. :func:`delivered` bounds the wait; its
``TimeoutError`` becomes the caller's ``BrokerError`` and the batch is retried (a send repeated
after a timeout is skipped or counted once by its reader: detector values by position, dead
letters by key, alerts by fingerprint).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any

__all__ = ["DELIVERY_TIMEOUT_SECONDS", "delivered"]

DELIVERY_TIMEOUT_SECONDS = 60.0


async def delivered(
    sends: Iterable[Awaitable[Any]], timeout: float = DELIVERY_TIMEOUT_SECONDS
) -> None:
    """Until every send is confirmed; ``TimeoutError`` after ``timeout`` seconds, the sends left
    running (cancelling a send does not take it back from the producer).

    >>> async def sent(): return "ok"
    >>> asyncio.run(delivered([sent(), sent()]))
    >>> async def never(): await asyncio.sleep(3600)
    >>> asyncio.run(delivered([never()], timeout=0.01))
    Traceback (most recent call last):
    ...
    TimeoutError
    """
    await asyncio.wait_for(asyncio.shield(asyncio.gather(*sends)), timeout)
