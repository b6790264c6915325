"""What the broker says about a source partition now: its log identity and log end offset.

The identity is the cluster id and the topic id from a Metadata request (v10-v12, Kafka 2.8+ and
Tansu; aiokafka itself stops at v5, so the flexible-version request is declared here with
aiokafka's protocol types). A broker without topic ids gives the cluster id only; the log end
offset still detects a log that restarted below the stored position (see ``monitor/folding/offsets.py``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Mapping
from io import BytesIO
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.metadata import MetadataRequest as LegacyMetadataRequest
from aiokafka.protocol.types import (
    AbstractType,
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)
from aiokafka.structs import TopicPartition

from monitor.errors import BrokerError
from monitor.folding.offsets import LogState, log_identity

__all__ = ["SourceLog"]

log = logging.getLogger("monitor.tools.worker")
_NO_TOPIC_ID = uuid.UUID(int=0)
FETCH_TIMEOUT_SECONDS = 5.0
CLOSE_TIMEOUT_SECONDS = 10.0


class _Uuid(AbstractType[uuid.UUID]):
    @classmethod
    def encode(cls, value: uuid.UUID | None) -> bytes:
        return (value or _NO_TOPIC_ID).bytes

    @classmethod
    def decode(cls, data: BytesIO) -> uuid.UUID:
        return uuid.UUID(bytes=data.read(16))


def _response_schema(cluster_operations: bool) -> Schema:
    fields: list[tuple[str, Any]] = [
        ("throttle_time_ms", Int32),
        (
            "brokers",
            CompactArray(
                ("node_id", Int32),
                ("host", CompactString("utf-8")),
                ("port", Int32),
                ("rack", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("cluster_id", CompactString("utf-8")),
        ("controller_id", Int32),
        (
            "topics",
            CompactArray(
                ("error_code", Int16),
                ("name", CompactString("utf-8")),
                ("topic_id", _Uuid),
                ("is_internal", Boolean),
                (
                    "partitions",
                    CompactArray(
                        ("error_code", Int16),
                        ("partition_index", Int32),
                        ("leader_id", Int32),
                        ("leader_epoch", Int32),
                        ("replica_nodes", CompactArray(Int32)),
                        ("isr_nodes", CompactArray(Int32)),
                        ("offline_replicas", CompactArray(Int32)),
                        ("tags", TaggedFields),
                    ),
                ),
                ("topic_authorized_operations", Int32),
                ("tags", TaggedFields),
            ),
        ),
    ]
    if cluster_operations:  # v8-v10 only
        fields.append(("cluster_authorized_operations", Int32))
    return Schema(*fields, ("tags", TaggedFields))


_TOPICS = (
    "topics",
    CompactArray(("topic_id", _Uuid), ("name", CompactString("utf-8")), ("tags", TaggedFields)),
)


class _MetadataResponseV10(Response):
    API_KEY = 3
    API_VERSION = 10
    SCHEMA = _response_schema(cluster_operations=True)


class _MetadataResponseV11(Response):
    API_KEY = 3
    API_VERSION = 11
    SCHEMA = _response_schema(cluster_operations=False)


class _MetadataResponseV12(Response):
    API_KEY = 3
    API_VERSION = 12
    SCHEMA = _MetadataResponseV11.SCHEMA


class _MetadataRequestV10(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 3
    API_VERSION = 10
    RESPONSE_TYPE = _MetadataResponseV10
    SCHEMA = Schema(
        _TOPICS,
        ("allow_auto_topic_creation", Boolean),
        ("include_cluster_authorized_operations", Boolean),
        ("include_topic_authorized_operations", Boolean),
        ("tags", TaggedFields),
    )


class _MetadataRequestV11(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 3
    API_VERSION = 11
    RESPONSE_TYPE = _MetadataResponseV11
    SCHEMA = Schema(
        _TOPICS,
        ("allow_auto_topic_creation", Boolean),
        ("include_topic_authorized_operations", Boolean),
        ("tags", TaggedFields),
    )


class _MetadataRequestV12(_MetadataRequestV11):
    API_VERSION = 12
    RESPONSE_TYPE = _MetadataResponseV12


class TopicIdRequest(Request[_MetadataRequestV10 | _MetadataRequestV11 | _MetadataRequestV12]):
    """Metadata of some topics with their topic ids; the newest version both sides speak."""

    API_KEY = 3

    def __init__(self, topics: Iterable[str]) -> None:
        self.topics = sorted(set(topics))

    def build(self, request_struct_class: Any) -> Any:
        topics: list[tuple[None, str, dict[str, Any]]] = [(None, name, {}) for name in self.topics]
        if request_struct_class.API_VERSION == 10:
            return request_struct_class(topics, False, False, False, {})
        return request_struct_class(topics, False, False, {})


class SourceLog:
    """A small client of its own (no consumer group) that reads log identities and log ends.

    Constructor only stores settings; :meth:`start` connects. ``client_options`` are passed to
    aiokafka as they are (security settings of the cluster).
    """

    def __init__(self, bootstrap: str, **client_options: Any) -> None:
        self.bootstrap = bootstrap
        self.client_options = client_options
        self._consumer: AIOKafkaConsumer | None = None
        self._warned = False

    async def start(self) -> SourceLog:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                group_id=None,
                enable_auto_commit=False,
                **self.client_options,
            )
            try:
                await consumer.start()
            except (KafkaError, OSError) as exc:
                await consumer.stop()
                raise BrokerError(f"cannot reach the broker at {self.bootstrap}: {exc}") from exc
            self._consumer = consumer
        return self

    async def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            try:
                await asyncio.wait_for(consumer.stop(), CLOSE_TIMEOUT_SECONDS)
            except TimeoutError:
                log.warning("the broker client did not close within %.0f s", CLOSE_TIMEOUT_SECONDS)

    async def states(
        self,
        sources: Iterable[tuple[str, int]],
        stored: Mapping[tuple[str, int], int] | None = None,
    ) -> dict[tuple[str, int], LogState]:
        """The log identity and log end offset of each ``(topic, partition)``; :class:`BrokerError` if the
        broker does not answer (the caller retries the batch).

        Where the listed log end is not above the ``stored`` offset of a partition, a fetch confirms it:
        some brokers (Tansu 0.6) list the base offset of the last record batch as the latest offset,
        while a fetch reports the true high watermark. A fetch that brings no answer within
        ``FETCH_TIMEOUT_SECONDS`` is a :class:`BrokerError` too: without it, a replay of a partition
        read to its end would look like a log that lost its records, and be processed twice.
        """
        await self.start()
        assert self._consumer is not None
        sources = sorted(set(sources))
        try:
            identities = await self._identities({t for t, _ in sources})
            listed = await self._consumer.end_offsets([TopicPartition(t, p) for t, p in sources])
            ends = {(t, p): int(listed[TopicPartition(t, p)]) for t, p in sources}
            doubtful = {s: o for s, o in (stored or {}).items() if s in ends and 0 <= ends[s] <= o}
            fetched = await self._fetched_ends(doubtful)
        except (KafkaError, OSError) as exc:
            await self.close()  # a broker that restarted: reconnect next time
            raise BrokerError(
                f"broker at {self.bootstrap} did not describe {sources}: {exc}"
            ) from exc
        unanswered = sorted(s for s, end in fetched.items() if end < 0)
        if unanswered:
            await self.close()  # the next attempt asks on a new connection
            raise BrokerError(
                f"broker at {self.bootstrap} answered no fetch of {unanswered} within "
                f"{FETCH_TIMEOUT_SECONDS:.0f} s: their log end, listed at or below the stored offset, "
                "is not confirmed"
            )
        for source, end in fetched.items():
            ends[source] = max(ends[source], end)
        return {s: LogState(identities.get(s[0], ""), ends[s]) for s in sources}

    async def _fetched_ends(
        self, offsets: Mapping[tuple[str, int], int]
    ) -> dict[tuple[str, int], int]:
        """The high watermark a fetch at each offset reports (``-1`` where none came back in time)."""
        if not offsets:
            return {}
        assert self._consumer is not None
        tps = {source: TopicPartition(*source) for source in offsets}
        self._consumer.assign(list(tps.values()))
        try:
            for source, tp in tps.items():
                self._consumer.seek(tp, offsets[source])
            deadline = asyncio.get_running_loop().time() + FETCH_TIMEOUT_SECONDS
            while asyncio.get_running_loop().time() < deadline and any(
                self._consumer.highwater(tp) is None for tp in tps.values()
            ):
                await self._consumer.getmany(*tps.values(), timeout_ms=200, max_records=1)
            return {
                s: (
                    -1
                    if self._consumer.highwater(tp) is None
                    else int(self._consumer.highwater(tp))
                )
                for s, tp in tps.items()
            }
        finally:
            self._consumer.unsubscribe()

    async def _identities(self, topics: set[str]) -> dict[str, str]:
        assert self._consumer is not None
        client = self._consumer._client  # aiokafka's connection pool; public API has no raw request
        node = client.get_random_node()
        try:
            response = await client.send(node, TopicIdRequest(topics))
        except NotImplementedError:  # broker older than Kafka 2.8: cluster id only
            if not self._warned:
                log.warning(
                    "the broker reports no topic ids (Metadata v10+): a recreated topic is detected only "
                    "when its log end is at or below the stored offset"
                )
                self._warned = True
            response = await client.send(node, LegacyMetadataRequest(sorted(topics), False))
            return {
                topic: log_identity(getattr(response, "cluster_id", None), None)
                for _, topic, *_ in response.topics
            }
        out = {}
        for error_code, name, topic_id, *_ in response.topics:
            if error_code == 0:
                out[name] = log_identity(
                    response.cluster_id, None if topic_id == _NO_TOPIC_ID else str(topic_id)
                )
        return out
