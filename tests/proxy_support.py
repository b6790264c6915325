"""A TCP proxy in front of a real broker that stops taking connections once a consumer has joined
its group: a broker gone away right after a consumer started.

Clients reach the broker only through the proxy when the broker advertises the proxy's port
(``LocalBroker(advertised_port=proxy.port)``). The proxy reads the Kafka request frames
(a 4-byte size, then the API key); at the first SyncGroup request, the last step of a group join,
it closes its listening socket: new connections are refused from then on, open ones go on.
``open`` counts the client connections the clients have not closed yet.
"""

from __future__ import annotations

import asyncio
import contextlib

SYNC_GROUP = 14  # the Kafka API key of SyncGroup


class JoinThenRefuseProxy:
    def __init__(self, port: int, broker_port: int) -> None:
        self.port = port
        self.broker_port = broker_port
        self.open = 0
        self.joined = False  # a SyncGroup request went through
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> JoinThenRefuseProxy:
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
            if int.from_bytes(frame[:2], "big") == SYNC_GROUP and self._server is not None:
                self.joined = True
                self._server.close()
            to_broker.write(size + frame)
            await to_broker.drain()

    async def _answers(self, broker: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        while data := await broker.read(65536):
            to_client.write(data)
            await to_client.drain()
