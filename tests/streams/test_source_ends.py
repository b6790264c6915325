"""The log ends detector values are bounded by, from the real Tansu broker."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaProducer

from monitor.adapters.source_log import SourceLog
from monitor.adapters.topics import ensure_topics
from streams.source_ends import SourceEnds


def test_ends_are_the_true_log_ends_and_a_partition_no_source_has_is_left_out_at_once(
    broker, unique
):
    """Tansu lists a partition's last record batch's base offset as its end: a value covering the
    last offset of a batch must still be taken (the end is confirmed by a fetch). A partition the
    source topic does not have (asked for, its log end would be waited for) and a topic that is no
    source are left out without a wait."""
    source, other = f"t{unique}.feedback", f"t{unique}.other"

    async def run() -> None:
        await ensure_topics(broker.bootstrap, {source: 2, other: 1})
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=50)
        await producer.start()
        await asyncio.gather(*[await producer.send(source, b"{}", partition=0) for _ in range(7)])
        await producer.stop()
        log = SourceLog(broker.bootstrap)
        ends = SourceEnds(log, [source])
        try:
            started = time.monotonic()
            got = await ends.of({(source, 0): 6, (source, 1): 0, (source, 5): 0, (other, 0): 0})
            assert got == {(source, 0): 7, (source, 1): 0}
            assert time.monotonic() - started < 5
            # a forged offset far past the end is confirmed against the log, not waited for
            assert await SourceEnds(log, [source]).of({(source, 0): 2**40}) == {(source, 0): 7}
            # known now: a covered offset below the end needs no broker (gone: it would fail)
            ends.source_log = SourceLog("127.0.0.1:1")
            assert await ends.of({(source, 0): 3}) == {(source, 0): 7}
            # the ingest consumer's high watermarks count too
            ends.fetched = lambda: {(source, 1): 12, (other, 0): 40}
            assert await ends.of({(source, 1): 11, (other, 0): 0}) == {(source, 1): 12}
        finally:
            await log.close()

    asyncio.run(run())
