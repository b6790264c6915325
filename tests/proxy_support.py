"""TCP proxies in front of a real broker that fail it in one way: a broker gone away right after a
consumer joined its group (:class:`JoinThenRefuseProxy`), a broker that never answers a fetch
(:class:`FetchHoldingProxy`), a broker whose ACLs deny a topic's records to its readers
(:class:`ReadDenyingProxy`).

Clients reach the broker only through the proxy when the broker advertises the proxy's port
(``LocalBroker(advertised_port=proxy.port)``). The proxy reads the Kafka request frames
(a 4-byte size, then the API key) and forwards them unless :meth:`KafkaProxy.forward` says not to;
the broker's answer frames go back through :meth:`KafkaProxy.answer`, in order.
``open`` counts the client connections the clients have not closed yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
from collections.abc import Iterator
from typing import Any

from aiokafka.protocol import fetch

FETCH = 1  # the Kafka API keys of Fetch and SyncGroup
SYNC_GROUP = 14


class KafkaProxy:
    def __init__(self, port: int, broker_port: int) -> None:
        self.port = port
        self.broker_port = broker_port
        self.open = 0
        self.joined = False  # a SyncGroup request went through
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> KafkaProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()

    async def _serve(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        self.open += 1
        self._writers.add(to_client)
        try:
            broker, to_broker = await asyncio.open_connection("127.0.0.1", self.broker_port)
        except OSError:
            self.open -= 1
            to_client.close()
            return
        self._writers.add(to_broker)
        asked: dict[int, Any] = {}
        answers = asyncio.create_task(self._answers(broker, to_client, asked))
        try:
            await self._requests(client, to_broker, asked)
        finally:
            self.open -= 1
            to_broker.close()
            answers.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await answers
            to_client.close()

    async def _requests(
        self, client: asyncio.StreamReader, to_broker: asyncio.StreamWriter, asked: dict[int, Any]
    ) -> None:
        """Every request frame to the broker, until the client closes its connection; ``asked``
        (the connection's own) maps the correlation id of a request to its (API key, version)."""
        while True:
            try:
                size = await client.readexactly(4)
                frame = await client.readexactly(int.from_bytes(size, "big"))
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            api_key = int.from_bytes(frame[:2], "big")
            if self.forward(api_key):
                asked[int.from_bytes(frame[4:8], "big")] = (
                    api_key,
                    int.from_bytes(frame[2:4], "big"),
                )
                to_broker.write(size + frame)
                await to_broker.drain()

    def forward(self, api_key: int) -> bool:
        """Whether a request goes on to the broker (every one here)."""
        return True

    def answer(self, api_key: int, version: int, frame: bytes) -> bytes:
        """The answer frame (correlation id, then the body) the client gets for the broker's."""
        return frame

    async def _answers(
        self, broker: asyncio.StreamReader, to_client: asyncio.StreamWriter, asked: dict[int, Any]
    ) -> None:
        while True:
            try:
                size = await broker.readexactly(4)
                frame = await broker.readexactly(int.from_bytes(size, "big"))
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            request = asked.pop(int.from_bytes(frame[:4], "big"), None)
            if request is not None:
                frame = self.answer(*request, frame)
            to_client.write(len(frame).to_bytes(4, "big") + frame)
            await to_client.drain()


class JoinThenRefuseProxy(KafkaProxy):
    """At the first SyncGroup request, the last step of a group join, the proxy closes its listening
    socket: new connections are refused from then on, open ones go on."""

    def forward(self, api_key: int) -> bool:
        if api_key == SYNC_GROUP and self._server is not None:
            self.joined = True
            self._server.close()
        return True


class FetchHoldingProxy(KafkaProxy):
    """Every Fetch request is swallowed: the client waits for an answer that never comes (a broker
    too slow to answer a fetch in time); ``held`` counts them."""

    held = 0

    def forward(self, api_key: int) -> bool:
        if api_key == FETCH:
            self.held += 1
            return False
        return True


TOPIC_AUTHORIZATION_FAILED = 29


class ReadDenyingProxy(KafkaProxy):
    """Every Fetch answer of ``topic``'s partitions says TOPIC_AUTHORIZATION_FAILED, with no records,
    as a broker answers a principal its ACLs deny Read on the topic; ``denied`` counts the answers.
    Everything else (metadata, the group, offsets, produce) goes through as the broker answered,
    and every answer once ``denying`` is False (the ACL granted)."""

    denied = 0
    denying = True

    def __init__(self, port: int, broker_port: int, topic: str) -> None:
        super().__init__(port, broker_port)
        self.topic = topic

    def answer(self, api_key: int, version: int, frame: bytes) -> bytes:
        response = getattr(fetch, f"FetchResponse_v{version}", None)
        if api_key != FETCH or response is None or not self.denying:
            return frame
        schema = response.SCHEMA
        body = list(schema.decode(io.BytesIO(frame[4:])))
        topics = schema.names.index("topics")
        partition_fields = schema.fields[topics].array_of.fields[1].array_of.names
        denied = {
            "error_code": TOPIC_AUTHORIZATION_FAILED,
            "highwater_offset": -1,
            "last_stable_offset": -1,
            "log_start_offset": -1,
            "aborted_transactions": [],
            "message_set": b"",
        }
        rewritten = []
        for topic, partitions in body[topics]:
            if topic == self.topic:
                self.denied += 1
                partitions = [
                    tuple(denied.get(name, value) for name, value in zip(partition_fields, p))
                    for p in partitions
                ]
            rewritten.append((topic, partitions))
        body[topics] = rewritten
        return frame[:4] + schema.encode(body)


@contextlib.contextmanager
def running(proxy: KafkaProxy) -> Iterator[KafkaProxy]:
    """``proxy`` serving on an event loop of its own thread (for clients in other processes)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)
    try:
        yield proxy
    finally:
        asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
