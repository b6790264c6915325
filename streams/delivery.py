"""What a worker sends besides its agents' messages: the output topics' channels, declared at start,
and the bounded wait for the broker to confirm sends.

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

import faust

from monitor.adapters.topics import output_topics
from monitor.settings import Settings

__all__ = ["DELIVERY_TIMEOUT_SECONDS", "declare_output_topics", "delivered", "output_topic"]

DELIVERY_TIMEOUT_SECONDS = 60.0


def output_topic(app: faust.App, s: Settings, name: str) -> faust.TopicT:
    """The app's channel of raw bytes to one of :func:`output_topics` (an alerts topic with
    ``MONITOR_ALERTS_TO_KAFKA`` off, never sent to, gets one partition too)."""
    partitions = output_topics(s).get(name, 1)
    return app.topic(name, partitions=partitions, value_serializer="raw", key_serializer="raw")


async def declare_output_topics(app: faust.App, s: Settings) -> None:
    """Create the output topics through the app's producer, which then refreshes its metadata of
    every topic; before the first batch. aiokafka's producer learns the topics that exist when it
    starts; a later send to a topic it does not know narrows every metadata refresh to that topic
    alone, and the refresh replaces what it knew: the detector values' topic fell out of it, their
    delivery waited on an unknown leader, and the worker stopped taking feedback (it took the
    first alert, sent to a topic created after the producer started)."""
    for name in output_topics(s):
        await output_topic(app, s, name).maybe_declare()


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
