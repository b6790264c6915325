"""The ingest agent's source: both source topics, consumed in batches straight from aiokafka.

Faust builds a message, an event and their acknowledgement for every record it delivers, about
90 µs a message: most of a worker's time when producers send one event per message
(docs/BENCHMARKS.md). The worker therefore reads the source topics with a consumer of its own in
the group ``<MONITOR_APP_ID>-ingest`` and takes whole fetches (``getmany``); Faust keeps the
detector agent, the timers and the web server in its group ``<MONITOR_APP_ID>``.

- Batches are cut as Faust's ``take_events`` cut them: at most ``MONITOR_BATCH_SIZE`` messages,
  or what arrived within ``MONITOR_BATCH_WITHIN`` seconds of the batch's first message, taken
  across the fetched partitions in record-timestamp order (:class:`BatchCutter`).
- An offset is committed only once its batch is written: every ``MONITOR_COMMIT_INTERVAL`` seconds
  or ``MONITOR_COMMIT_EVERY`` messages, for revoked partitions at a rebalance, and at a stop. The
  store's positions stay the truth: a batch read again after a crash is skipped.
- A rebalance waits (up to ``MONITOR_SESSION_TIMEOUT``) for the batch in hand to be written, so
  its offsets are committed before another worker takes its partitions; every rebalance makes the
  ingest agent read its positions from the store again.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import IllegalStateError, KafkaError

from monitor.adapters.worker_process import INGEST_READY
from monitor.folding.pipeline import RawMessage
from monitor.settings import Settings

__all__ = [
    "ASSIGNOR",
    "BatchCutter",
    "SourceConsumer",
    "WrittenOffsets",
    "fetchable_end",
    "ingest_group",
    "max_fetch_bytes",
]

log = logging.getLogger("monitor.tools.worker")
MAX_POLL_INTERVAL = 1000.0  # seconds a batch may take (an outage retried) before the group drops us
REBALANCE_TIMEOUT = 60.0
# Seconds a batch waits for the records of a partition the broker holds more of and none of which
# are held (Kafka Streams' max.task.idle.ms), and how many batches' worth it holds meanwhile at most.
ALIGN_WAIT = 1.0
HELD_BATCHES = 4
# A partition whose fetch has not been answered for this long (its leader gone) is not waited for.
ANSWERED_WITHIN = 5.0
# Co-partitioned: with equal partition counts a worker gets the same partition numbers of both
# topics, so an in-process join store sees a request's inference and feedback (docs/events.md).
ASSIGNOR = RangePartitionAssignor


def ingest_group(settings: Settings) -> str:
    """The consumer group of the source topics.

    >>> ingest_group(Settings(app_id="shop"))
    'shop-ingest'
    """
    return f"{settings.app_id}-ingest"


def max_fetch_bytes(settings: Settings) -> int:
    """Bytes fetched per partition and request: four of the largest accepted messages, at least 4 MiB.

    >>> max_fetch_bytes(Settings())
    4194304
    """
    return max(settings.max_message_bytes * 4, 4_194_304)


def fetchable_end(highwater: int, last_stable: int | None, isolation: str) -> int:
    """The offset past the last one a fetch can return: the high watermark, or the last stable
    offset when only committed transactions are read (records of a transaction still open lie
    between them and come with its commit).

    A transaction's commit or abort marker is an offset no fetch returns as a record, but the
    consumer's position moves past it once it is fetched, so it ends no wait.

    >>> fetchable_end(120, 100, "read_uncommitted"), fetchable_end(120, 100, "read_committed")
    (120, 100)
    >>> fetchable_end(120, None, "read_committed")
    120
    """
    if isolation == "read_committed" and last_stable is not None and last_stable >= 0:
        return min(highwater, last_stable)
    return highwater


class WrittenOffsets:
    """Offsets of written batches, held until they are committed.

    >>> offsets = WrittenOffsets(every=3, interval=60.0, clock=lambda: 0.0)
    >>> offsets.add([RawMessage("t", 0, 7, b"", "inference"), RawMessage("t", 0, 8, b"", "inference")])
    >>> offsets.due(), offsets.pending()
    (False, {('t', 0): 9})
    >>> offsets.add([RawMessage("t", 1, 2, b"", "inference")])
    >>> offsets.due(), sorted(offsets.take().items())
    (True, [(('t', 0), 9), (('t', 1), 3)])
    >>> offsets.pending()
    {}
    """

    def __init__(self, every: int, interval: float, clock: Callable[[], float] = time.monotonic):
        self.every, self.interval, self.clock = every, interval, clock
        self._next: dict[tuple[str, int], int] = {}
        self._messages = 0
        self._since = clock()

    def add(self, written: Iterable[RawMessage]) -> None:
        """A batch is written: commit past its last offset of each partition."""
        for message in written:
            source = (message.topic, message.partition)
            self._next[source] = max(self._next.get(source, 0), message.offset + 1)
            self._messages += 1

    def due(self) -> bool:
        return bool(self._next) and (
            self._messages >= self.every or self.clock() - self._since >= self.interval
        )

    def pending(self) -> dict[tuple[str, int], int]:
        return dict(self._next)

    def take(self, only: Iterable[tuple[str, int]] | None = None) -> dict[tuple[str, int], int]:
        """The offsets to commit now (of ``only`` these partitions), no longer pending."""
        wanted = set(self._next) if only is None else set(only) & set(self._next)
        taken = {source: self._next.pop(source) for source in wanted}
        if not self._next:
            self._messages, self._since = 0, self.clock()
        return taken

    def keep_only(self, assigned: Iterable[tuple[str, int]]) -> None:
        """After a rebalance: a partition now held by another worker is not ours to commit."""
        held = set(assigned)
        for source in [s for s in self._next if s not in held]:
            del self._next[source]


class BatchCutter:
    """Cut consumed records into batches: at most ``size`` messages, or what arrived within
    ``within`` seconds of the batch's first message.

    ``fetch(timeout, max_records)`` returns ``{(topic, partition): records}``, each record with
    ``offset``, ``value`` and ``timestamp`` (aiokafka's ``ConsumerRecord``; milliseconds, the
    producer's create time unless the topic sets the broker's append time).

    A fetch is taken whole and a batch takes its messages across partitions in timestamp order
    (each partition's in offset order); what it leaves is held for the next. A backlog's fetch
    holds a long stretch of every partition, and aiokafka hands them out one partition after
    another: cut in that order, a batch held one partition's hour, the next another's, and the
    detectors met the seams (docs/outcomes.md). A partition the broker holds more records of
    (``behind()``) may have older ones than the held records past its last held one: a batch takes
    none of those, and fetches that partition's next records first, up to ``align_wait`` seconds
    (as Kafka Streams waits ``max.task.idle.ms``), then ends with its last held record.
    Held records are dropped at a rebalance: every assigned partition is fetched again from its
    committed offset then.

    >>> import asyncio
    >>> from types import SimpleNamespace as R
    >>> async def fetch(timeout, max_records):
    ...     return {("t", 0): [R(offset=o, value=b"", timestamp=10 * o) for o in range(3)],
    ...             ("t", 1): [R(offset=o, value=b"", timestamp=10 * o + 5) for o in range(3)]}
    >>> cutter = BatchCutter(fetch, {"t": "inference"}, size=4, within=1.0)
    >>> [(m.partition, m.offset) for m in asyncio.run(cutter.next_batch(lambda: False))]
    [(0, 0), (1, 0), (0, 1), (1, 1)]
    >>> cutter.held()
    2
    """

    def __init__(
        self,
        fetch: Callable[[float, int | None], Awaitable[Mapping[tuple[str, int], Sequence[Any]]]],
        kinds: Mapping[str, str],
        size: int,
        within: float,
        *,
        idle_wait: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        behind: Callable[[], Awaitable[set[tuple[str, int]]]] | None = None,
        align_wait: float = ALIGN_WAIT,
    ) -> None:
        self.fetch, self.kinds, self.size, self.within = fetch, kinds, size, within
        self.idle_wait, self.clock = idle_wait, clock
        self.behind, self.align_wait = behind, align_wait
        self._held: dict[tuple[str, int], deque[Any]] = {}

    def held(self) -> int:
        """Records fetched and not in a batch yet."""
        return sum(len(records) for records in self._held.values())

    def drop_held(self) -> None:
        """At a rebalance: the consumer fetches every assigned partition again from its
        committed offset."""
        self._held.clear()

    async def next_batch(self, stopping: Callable[[], bool]) -> list[RawMessage]:
        """The next batch; empty when nothing arrived within ``idle_wait`` or a stop is requested."""
        held = self.held()
        deadline = self.clock() + self.within if held else None
        aligned_by: float | None = None  # the end of the wait for a partition behind
        behind: set[tuple[str, int]] = set()
        while not stopping():
            if held >= self.size or (deadline is not None and self.clock() >= deadline):
                behind = await self._behind()
                waited_out = aligned_by is not None and self.clock() >= aligned_by
                if waited_out or held >= HELD_BATCHES * self.size:
                    behind = {source for source in behind if self._held.get(source)}
                    break
                if all(self._held.get(source) for source in behind) and (
                    held < self.size or self._in_order(behind) >= self.size
                ):
                    break  # a full batch when one is held: fetch on while a partition behind ends it
                if aligned_by is None:
                    aligned_by = self.clock() + self.align_wait
                wait = max(aligned_by - self.clock(), 0.0)
            else:
                wait = self.idle_wait if deadline is None else max(deadline - self.clock(), 0.0)
            records = await self.fetch(wait, None)  # every partition's fetched records
            for source, messages in records.items():
                if messages:
                    self._held.setdefault(source, deque()).extend(messages)
            held = self.held()
            if not held:
                return []
            if deadline is None:
                deadline = self.clock() + self.within
        return [] if stopping() else self._take(self.size, behind)

    def _in_order(self, behind: Collection[tuple[str, int]]) -> int:
        """How many held records a batch may take before a partition ``behind`` runs out: those no
        later than the last held record of each (its next, not fetched yet, may come next)."""
        if not behind:
            return self.held()
        last = min(self._held[source][-1].timestamp for source in behind)
        return sum(
            sum(1 for r in records if r.timestamp <= last) for records in self._held.values()
        )

    async def _behind(self) -> set[tuple[str, int]]:
        """The partitions the broker holds more records of than were fetched: a batch takes none
        of the other partitions' records past their held ones, whose next may be older (a fetch
        brings up to 4 MiB of each partition, and one of small or sparse messages spans more time
        in them than one of large ones)."""
        return set() if self.behind is None else await self.behind()

    def _take(self, n: int, behind: Collection[tuple[str, int]] = ()) -> list[RawMessage]:
        """Up to ``n`` held records, the earliest timestamp first of the partitions' next ones,
        ending with the last held record of a partition ``behind``."""
        sources = [source for source, records in self._held.items() if records]
        batch: list[RawMessage] = []
        if len(sources) == 1:
            (topic, partition), records = sources[0], self._held[sources[0]]
            kind = self.kinds[topic]
            while records and len(batch) < n:
                r = records.popleft()
                batch.append(RawMessage(topic, partition, r.offset, r.value, kind))
            return batch
        # Equal timestamps (a producer sends many messages a millisecond) go round the partitions:
        # the one this batch took fewer from first, then the one held first.
        by_rank = list(self._held)
        heads = [
            (records[0].timestamp, 0, k) for k, records in enumerate(self._held.values()) if records
        ]
        heapq.heapify(heads)
        while heads and len(batch) < n:
            _, taken, k = heapq.heappop(heads)
            (topic, partition), records = by_rank[k], self._held[by_rank[k]]
            r = records.popleft()
            batch.append(RawMessage(topic, partition, r.offset, r.value, self.kinds[topic]))
            if records:
                heapq.heappush(heads, (records[0].timestamp, taken + 1, k))
            elif by_rank[k] in behind:  # its next records, not fetched yet, may come first
                break
        return batch


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, owner: SourceConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.owner.on_revoked({(tp.topic, tp.partition) for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.owner.on_assigned({(tp.topic, tp.partition) for tp in assigned})


class SourceConsumer:
    """The source topics' consumer: batches to ``handle``, offsets committed once written.

    ``handle(batch)`` returns once the batch is written (or exits the process);
    ``on_assigned()`` runs after every rebalance, before the next batch.
    """

    def __init__(
        self,
        settings: Settings,
        client_options: Mapping[str, Any],
        handle: Callable[[list[RawMessage]], Awaitable[None]],
        on_assigned: Callable[[], None],
    ) -> None:
        s = settings
        if not s.kafka_bootstrap:
            raise ValueError("MONITOR_KAFKA_BOOTSTRAP is not set")
        self.bootstrap = [server.strip() for server in s.kafka_bootstrap.split(",")]
        self.settings, self.handle, self.notify_assigned = s, handle, on_assigned
        self.kinds = {s.inference_topic: "inference", s.feedback_topic: "feedback"}
        self.client_options = dict(client_options)
        self._consumer: AIOKafkaConsumer | None = None
        self.offsets = WrittenOffsets(s.commit_every, s.commit_interval)
        self.cutter = BatchCutter(
            self._fetch, self.kinds, s.batch_size, s.batch_within, behind=self._behind
        )
        self._idle = asyncio.Event()  # no batch in hand
        self._idle.set()
        self._assigned_at = 0.0  # epoch seconds of the last assignment
        self.isolation = str(self.client_options.get("isolation_level", "read_uncommitted"))

    @property
    def consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("the source consumer is not started")
        return self._consumer

    def log_ends(self) -> dict[tuple[str, int], int]:
        """The high watermark of each source partition assigned to this worker, as its latest fetch
        reported it (a partition not fetched yet is left out)."""
        if self._consumer is None:
            return {}
        ends = {}
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is not None:
                ends[(tp.topic, tp.partition)] = int(high)
        return ends

    def broker_answered_at(self) -> float | None:
        """The oldest of the last fetch answers (epoch seconds) of the assigned source partitions,
        None before any: the broker answers a fetch of an idle partition too, every
        ``fetch_max_wait_ms``, so an old answer means the broker (or a partition's leader) is gone."""
        if self._consumer is None:
            return None
        answered = [
            stamp
            for tp in self._consumer.assignment()
            if (stamp := self._consumer.last_poll_timestamp(tp)) is not None
        ]
        return min(answered) / 1000.0 if answered else None

    def _build(self) -> AIOKafkaConsumer:  # in the event loop: aiokafka binds to the running loop
        s = self.settings
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=ingest_group(s),
            client_id=ingest_group(s),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            partition_assignment_strategy=(ASSIGNOR,),
            max_partition_fetch_bytes=max_fetch_bytes(s),
            session_timeout_ms=int(s.session_timeout * 1000),
            heartbeat_interval_ms=int(min(3.0, s.session_timeout / 3) * 1000),
            request_timeout_ms=int(max(40.0, s.session_timeout + 10.0) * 1000),
            rebalance_timeout_ms=int(REBALANCE_TIMEOUT * 1000),
            max_poll_interval_ms=int(MAX_POLL_INTERVAL * 1000),
            **self.client_options,
        )

    async def start(self) -> None:
        """Join the group (in the background: the first batch waits for the assignment, which is
        logged with ``INGEST_READY``)."""
        self._consumer = self._build()
        await self.consumer.start()
        self.consumer.subscribe(list(self.kinds), listener=_Rebalance(self))

    async def run(self, stopping: Callable[[], bool]) -> None:
        """Consume until ``stopping()``; the offsets written so far are committed on the way out."""
        while not stopping():
            batch = await self.cutter.next_batch(stopping)
            if batch:
                self._idle.clear()
                try:
                    await self.handle(batch)
                    self.offsets.add(batch)
                finally:
                    self._idle.set()
            if self.offsets.due():
                await self._commit()
        await self._commit()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def on_revoked(self, revoked: set[tuple[str, int]]) -> None:
        self.cutter.drop_held()  # not in a batch yet: fetched again from the committed offsets
        try:  # let the batch in hand be written, so its offsets go with its partitions
            await asyncio.wait_for(self._idle.wait(), self.settings.session_timeout)
        except TimeoutError:
            log.warning(
                "rebalance: the batch in hand is not written yet; it is skipped if read again"
            )
        await self._commit(only=revoked)

    async def on_assigned(self, assigned: set[tuple[str, int]]) -> None:
        self._assigned_at = time.time()
        self.cutter.drop_held()  # every partition's position starts again from its commit
        self.offsets.keep_only(assigned)
        self.notify_assigned()  # another worker may have written meanwhile
        log.info(
            "%s in group %s: %s",
            INGEST_READY,
            ingest_group(self.settings),
            ", ".join(f"{t}/{p}" for t, p in sorted(assigned)) or "no partition",
        )

    async def _fetch(
        self, wait: float, max_records: int | None
    ) -> dict[tuple[str, int], list[Any]]:
        records = await self.consumer.getmany(timeout_ms=int(wait * 1000), max_records=max_records)
        return {(tp.topic, tp.partition): messages for tp, messages in records.items()}

    async def _behind(self) -> set[tuple[str, int]]:
        """The assigned partitions whose log ends past the consumer's position, as their last
        fetch answered within :data:`ANSWERED_WITHIN` seconds reported it, and, for
        :data:`ANSWERED_WITHIN` seconds after an assignment, those no fetch has answered yet (their
        records, fetched from the committed offset, may be older than another partition's)."""
        consumer, behind = self.consumer, set()
        now = time.time()
        answered_since = (now - ANSWERED_WITHIN) * 1000
        just_assigned = now - self._assigned_at < ANSWERED_WITHIN
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            answered = consumer.last_poll_timestamp(tp)
            if high is None or answered is None:
                if just_assigned:
                    behind.add((tp.topic, tp.partition))
                continue
            if answered < answered_since:
                continue
            try:  # known once the partition was fetched; a position being reset is not waited for
                position = await asyncio.wait_for(consumer.position(tp), 0.05)
            except (IllegalStateError, TimeoutError):  # revoked meanwhile, or being reset
                continue
            if position < fetchable_end(high, consumer.last_stable_offset(tp), self.isolation):
                behind.add((tp.topic, tp.partition))
        return behind

    async def _commit(self, only: Iterable[tuple[str, int]] | None = None) -> None:
        offsets = self.offsets.take(only)
        if not offsets:
            return
        try:
            await self.consumer.commit({TopicPartition(t, p): o for (t, p), o in offsets.items()})
        except KafkaError as exc:  # a commit is an optimisation: the store skips what it holds
            log.warning(
                "offsets not committed (%s: %s); their batches are skipped if read again",
                type(exc).__name__,
                exc,
            )
