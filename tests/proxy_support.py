"""TCP proxies in front of a real broker that fail it in one way: a broker gone away right after a
consumer joined its group (:class:`JoinThenRefuseProxy`), a broker that never answers a fetch
(:class:`FetchHoldingProxy`).

Clients reach the broker only through the proxy when the broker advertises the proxy's port
(``LocalBroker(advertised_port=proxy.port)``). The proxy reads the Kafka request frames
(a 4-byte size, then the API key) and forwards them unless :meth:`KafkaProxy.forward` says not to.
``open`` counts the client connections the clients have not closed yet.
"""

from __future__ import annotations

import asyncio
import contextlib

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
        answers = asyncio.create_task(self._answers(broker, to_client))
        try:
            await self._requests(client, to_broker)
        finally:
            self.open -= 1
            to_broker.close()
            answers.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await answers
            to_client.close()

    async def _requests(
        self, client: asyncio.StreamReader, to_broker: asyncio.StreamWriter
    ) -> None:
        """Every request frame to the broker, until the client closes its connection."""
        while True:
            try:
                size = await client.readexactly(4)
                frame = await client.readexactly(int.from_bytes(size, "big"))
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            if self.forward(int.from_bytes(frame[:2], "big")):
                to_broker.write(size + frame)
                await to_broker.drain()

    def forward(self, api_key: int) -> bool:
        """Whether a request goes on to the broker (every one here)."""
        return True

    async def _answers(self, broker: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        while data := await broker.read(65536):
            to_client.write(data)
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
