"""Stored positions are checked against the real broker before anything is skipped."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from monitor.adapters.prometheus_metrics import MonitorMetrics
from monitor.adapters.source_log import SourceLog
from monitor.adapters.topics import ensure_topics
from monitor.folding.pipeline import BatchOutput, Position, RawMessage, SourceOutput
from streams.positions import SourcePositions


class CountingLog(SourceLog):
    """The real client; counts how often the broker is asked."""

    calls = 0

    async def states(self, sources, stored=None):
        self.calls += 1
        return await super().states(sources, stored)


def raw(topic: str, offsets: range) -> list[RawMessage]:
    return [RawMessage(topic, 0, o, b"{}", "inference") for o in offsets]


def test_positions_are_checked_once_per_load_and_again_when_offsets_go_backwards(broker, unique):
    topic = f"t{unique}.inference"

    async def run() -> None:
        await ensure_topics(broker.bootstrap, {topic: 1})
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        for _ in range(20):
            await producer.send_and_wait(topic, b"{}", partition=0)
        await producer.stop()
        log = CountingLog(broker.bootstrap)
        metrics = MonitorMetrics(CollectorRegistry())
        stored = {(topic, 0): Position(9, 100.0)}

        async def read_stored(t: str, p: int) -> Position:
            return stored.get((t, p), Position(-1, 0.0))

        positions = SourcePositions(read_stored, log, metrics)
        try:
            first = await positions.for_batch(raw(topic, range(5)))  # a replay: offsets 0-4 <= 9
            identity = first[(topic, 0)].identity
            assert (
                first[(topic, 0)].last_offset == 9 and all(identity.split("/")) and log.calls == 1
            )  # cluster and topic id
            await positions.for_batch(
                raw(topic, range(5, 10))
            )  # the same loaded position: not asked again
            assert log.calls == 1
            out = BatchOutput(sources={(topic, 0): SourceOutput(14, 100.0)})
            positions.advance(out)
            await positions.for_batch(raw(topic, range(15, 20)))  # forwards: nothing to check
            assert log.calls == 1
            again = await positions.for_batch(
                raw(topic, range(3, 8))
            )  # backwards after a write: asked
            assert (
                log.calls == 2 and again[(topic, 0)].last_offset == 14
            )  # the log still holds offset 14
            stored[(topic, 0)] = Position(50, 100.0, 0, identity)  # beyond the log end of 20
            positions.forget()
            reset = await positions.for_batch(raw(topic, range(5)))
            assert reset[(topic, 0)] == Position(-1, 100.0, 1, identity)
            assert (
                metrics.registry.get_sample_value(
                    "monitor_offset_resets_total",
                    {"topic": topic, "reason": "offset_beyond_log_end"},
                )
                == 1
            )
            assert positions.logs(BatchOutput(sources={(topic, 0): SourceOutput(4, 100.0)})) == {
                (topic, 0): (1, identity)
            }
        finally:
            await log.close()

    asyncio.run(run())
