"""One detector set per model version through the real broker, with 4 source partitions.

A version's error stream switches from a Bernoulli rate of 0.06 to 0.09. Its feedback is spread
over the 4 partitions of the feedback topic in rounds of ``ROUND`` events (round r on partition
r mod 4), each round published once the worker wrote the one before. So the detector agent receives
the values in the stream's own order whatever worker and batch carried them, and its detections can
be compared exactly with the same river detectors fed the unpartitioned stream in one process:
same detector, same positions, same evidence. The delay counted in the version's events (from the
event time of the value that raised the detection) must be within 10% of the unpartitioned one (the
issue's criterion); the old per-partition detectors, each seeing a quarter of the stream, miss it
(checked on the same values, so the test tells the two designs apart).

Why the same order, rather than partitions interleaving freely and a tolerance: ADWIN's delay
depends on the path, not only on the rates. Shuffling this stream's values within blocks of 50
events (as free interleaving would) moves its delay anywhere between 1,255 and 2,215 events over
30 shuffles, so "within 10%" only means something on the same sequence of values.

The second test kills the worker with SIGKILL twice (mid-ingest, and as soon as the detection is
in the store, before the offsets are committed): the detections are still exactly the reference
ones, none lost, none repeated, though after each kill the detector agent re-read its topic and
the ingest agent its own source (no offset was committed: checked)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
from tests_support import inference, reader_for, wait_until

from monitor.adapters.producer import EventProducer, partition_for
from monitor.adapters.worker_process import WorkerProcess
from monitor.detectors.concept import DEFAULT_SPECS, ConceptDriftMonitor
from monitor.detectors.values import DetectorValues, decode_values

Deployment = Any  # tests/e2e/conftest.py's, reached through its fixture

PARTITIONS = 4
WINDOW = 60
SEED = 9  # its unpartitioned ADWIN delay (1,383 events) is close to the calibrated median (1,391)
CHANGE, LENGTH, ROUND = 3000, 5000, 500  # error rate 0.06 before index CHANGE, 0.09 from it
SPAN = 7 * WINDOW  # event time covered by the stream
DETECTIONS = (
    "SELECT stream, detector, position, toFloat64(event_time), mean_before, mean_after, "
    "n_before, n_after FROM monitor.detector_events FINAL "
    "WHERE model = 'm' AND model_version = 'v1' ORDER BY stream, detector, position"
)
WRITTEN = (
    "SELECT sum(count) FROM monitor.partials WHERE name IN ('inference_events', 'feedback_events')"
)
JOINED = "SELECT sum(count) FROM monitor.partials WHERE name = 'outcome:accuracy'"


@pytest.fixture()
def deployment(deployment: Deployment) -> Deployment:
    """The usual deployment with 4 partitions per source topic (and detector-values topic)."""
    d = replace(deployment, prefix=f"{deployment.prefix}p", partitions=PARTITIONS)
    d.create_topics()
    return d


@pytest.fixture()
def clean_redis(redis_url: str, deployment: Deployment) -> Iterator[str]:
    """Pending joins survive the kills in Redis; this test's join keys are deleted afterwards."""
    yield redis_url
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{deployment.prefix}-*:join:*", count=10_000):
        client.delete(key)
    client.close()


@dataclass(frozen=True)
class SwitchStream:
    errors: np.ndarray  # the error values in stream order
    start: float  # event time of the first inference
    inferences: list[dict]
    rounds: list[list[dict]]  # feedback, round r all on partition r % PARTITIONS

    def index_at(self, feedback_time: float) -> int:
        """The stream index of the value whose feedback carries this event time (ms precision)."""
        return round((feedback_time - 5 - self.start) * LENGTH / SPAN)


def request_ids(partition: int) -> Iterator[str]:
    """Request ids the producer sends to ``partition`` (Kafka's default partitioner)."""
    return (f"q{j}" for j in itertools.count() if partition_for(f"q{j}", PARTITIONS) == partition)


def error_switch(after: float = 0.09) -> SwitchStream:
    """Error rate 0.06, then ``after`` from index CHANGE; round r's feedback on partition r % 4."""
    rng = np.random.default_rng(SEED)
    errors = np.concatenate([rng.random(CHANGE) < 0.06, rng.random(LENGTH - CHANGE) < after])
    ids = {p: request_ids(p) for p in range(PARTITIONS)}
    start = (int(time.time()) // WINDOW - 8) * WINDOW
    inferences, rounds = [], [[] for _ in range(-(-LENGTH // ROUND))]
    for i, wrong in enumerate(errors.tolist()):
        rid = next(ids[(i // ROUND) % PARTITIONS])
        inferences.append(inference(rid, start + SPAN * i / LENGTH, prediction="a"))
        feedback_time = inferences[-1]["timestamp"] + 5
        rounds[i // ROUND].append(
            {"request_id": rid, "timestamp": feedback_time, "label": "b" if wrong else "a"}
        )
    return SwitchStream(errors.astype(np.float64), float(start), inferences, rounds)


def reference_detections(stream: SwitchStream) -> list[tuple]:
    """The default detectors on the unpartitioned error stream, as detector_events rows."""
    times = stream.start + SPAN * np.arange(LENGTH) / LENGTH + 5
    return detection_rows(stream.errors, times)


def detection_rows(errors: np.ndarray, times: np.ndarray) -> list[tuple]:
    """The default detectors fed ``errors`` in this order, as detector_events rows."""
    found = ConceptDriftMonitor("m", "v1", DEFAULT_SPECS).update("error", errors)
    return sorted(
        (d.stream, d.detector, d.position, pytest.approx(float(times[d.position]), abs=1e-3))
        + tuple(
            None if m is None else pytest.approx(m, abs=1e-9) for m in (d.mean_before, d.mean_after)
        )
        + (d.n_before, d.n_after)
        for d in found
    )


def first_delay(positions: list[int]) -> int | None:
    """Events after the change up to the one that raised the first detection at or after it."""
    after = [p - CHANGE for p in positions if p >= CHANGE]
    return min(after) if after else None


def joined(worker: WorkerProcess) -> float:
    return float(reader_for(worker).query(JOINED).rows[0][0] or 0)


def written(worker: WorkerProcess) -> float:
    """Inference and feedback events in the store: their detector values were all sent before."""
    return float(reader_for(worker).query(WRITTEN).rows[0][0] or 0)


def detections(worker: WorkerProcess) -> list[tuple]:
    return [tuple(row) for row in reader_for(worker).query(DETECTIONS).rows]


def worker_env(clean_redis: str, **extra: str) -> dict[str, str]:
    return {
        "MONITOR_REDIS_URL": clean_redis,
        "MONITOR_BATCH_WITHIN": "0.05",
        **extra,
    }


def poll(predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Like tests_support.wait_until, polling every 50 ms: the rounds wait on it in turn."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def run_rounds(
    deployment: Deployment,
    stream: SwitchStream,
    current: Callable[[], WorkerProcess],
    after_round: Callable[[int], None] = lambda r: None,
) -> None:
    """Every inference, then the feedback round by round, each once the one before is written."""

    async def send() -> None:
        async with EventProducer(
            deployment.broker.bootstrap, topics=deployment.topics, batch_size=20
        ) as producer:
            assert not (await producer.send("inference", stream.inferences)).rejected
            await asyncio.to_thread(
                wait_until,
                lambda: current().metric("monitor_events_total", {"kind": "inference"}) >= LENGTH,
                60,
                "the inferences",
            )
            sent = 0
            for r, feedback in enumerate(stream.rounds):
                assert not (await producer.send("feedback", feedback)).rejected
                sent += len(feedback)
                await asyncio.to_thread(after_round, r)
                await asyncio.to_thread(
                    poll, lambda n=sent: joined(current()) == n, f"round {r} written"
                )

    asyncio.run(send())


def test_one_detector_set_sees_the_whole_stream_of_four_partitions(
    deployment, start_worker, clean_redis
):
    stream = error_switch()
    expected = reference_detections(stream)
    adwin = [row[2] for row in expected if row[:2] == ("error", "adwin")]
    reference = first_delay(adwin)
    assert reference is not None and len(adwin) == 1, expected  # no false alarm before the switch
    # Per source partition (the old design), each ADWIN sees a quarter of the version's events:
    # on this stream none of them finds the switch (or later than 10% past the reference).
    index = np.arange(LENGTH)
    for p in range(PARTITIONS):
        share = index[(index // ROUND) % PARTITIONS == p]
        found = ConceptDriftMonitor("m", "v1", DEFAULT_SPECS[:1]).update(
            "error", stream.errors[share]
        )
        delay = first_delay([int(share[d.position]) for d in found])
        assert delay is None or delay > 1.1 * reference, (p, delay, reference)

    worker = start_worker(**worker_env(clean_redis))
    run_rounds(deployment, stream, lambda: worker)
    wait_until(
        lambda: any(row[:2] == ("error", "adwin") for row in detections(worker)),
        timeout=30,
        what="the ADWIN detection",
    )
    time.sleep(1.0)  # the agent's last batches: a later detection would show now
    rows = detections(worker)
    found = [row for row in rows if row[:2] == ("error", "adwin")]
    # The delay in the version's events, read from the event time of the value that raised it.
    delay = first_delay([stream.index_at(row[3]) for row in found])
    assert delay is not None and abs(delay - reference) <= 0.1 * reference, (delay, reference)
    # In fact the same values in the same order: the same detections, positions and evidence.
    assert rows == expected
    errors, _, sources = fed_in_topic_order(deployment)
    assert sources == set(range(PARTITIONS))  # every partition's share reached the one set
    assert errors.tolist() == stream.errors.tolist()  # the order the rounds were meant to give


def test_kill_9_of_the_detector_path_loses_and_repeats_no_detection(
    deployment, start_worker, clean_redis
):
    stream = error_switch()
    expected = reference_detections(stream)
    detection_round = next(row[2] for row in expected if row[:2] == ("error", "adwin")) // ROUND
    # Offsets committed far apart: after a kill both agents re-read what they had processed.
    env = worker_env(clean_redis, MONITOR_COMMIT_INTERVAL="600", MONITOR_COMMIT_EVERY="100000000")
    workers = [start_worker(**env)]

    def restart() -> None:
        workers[-1].kill()
        workers.append(start_worker(**env))

    def after_round(r: int) -> None:
        if r == 5:  # the round just published, maybe partly ingested
            restart()
        elif r == detection_round:  # the detection is written; its state maybe not yet saved
            wait_until(lambda: len(detections(workers[-1])) > 0, timeout=30, what="the detection")
            restart()

    run_rounds(deployment, stream, lambda: workers[-1], after_round)
    time.sleep(1.5)  # the agent's last batches: a lost or extra detection would show now
    assert detections(workers[-1]) == expected
    # The crash paths really ran: the last worker re-read what its predecessors had written.
    assert workers[-1].metric("monitor_replayed_messages_skipped_total") > 0
    assert not committed(deployment), "offsets were committed: the agents may not have re-read"


def test_freely_interleaved_partitions_feed_the_order_the_topic_holds(
    deployment, start_worker, clean_redis
):
    """All 4 partitions' feedback at once: the detector set's input is whatever interleaving the
    ingest batches produced, read back from the detector-values topic and fed to the same river
    detectors here (each source offset once, in topic order): exactly its detections. The switch
    is larger (0.06 -> 0.3): found on any interleaving, where 0.06 -> 0.09 may be missed on some."""
    stream = error_switch(after=0.3)
    worker = start_worker(**worker_env(clean_redis))
    publish_all(deployment, stream)
    wait_until(lambda: written(worker) == 2 * LENGTH, timeout=60, what="every event written")
    # all sent: the values go out before their batch's insert
    errors, times, sources = fed_in_topic_order(deployment)
    assert sources == set(range(PARTITIONS))  # every partition's share reached the one set
    assert sorted(times) == pytest.approx(
        sorted(stream.start + SPAN * np.arange(LENGTH) / LENGTH + 5)
    )
    expected = detection_rows(errors, times)
    assert any(row[:2] == ("error", "adwin") for row in expected), expected
    wait_until(lambda: detections(worker) == expected, timeout=30, what="the expected detections")
    time.sleep(1.0)  # a later, unexpected detection would show now
    assert detections(worker) == expected


def publish_all(deployment: Deployment, stream: SwitchStream) -> None:
    async def send() -> None:
        async with EventProducer(
            deployment.broker.bootstrap, topics=deployment.topics, batch_size=20
        ) as producer:
            assert not (await producer.send("inference", stream.inferences)).rejected
            feedback = [event for r in stream.rounds for event in r]
            assert not (await producer.send("feedback", feedback)).rejected

    asyncio.run(send())


def fed_in_topic_order(deployment: Deployment) -> tuple[np.ndarray, np.ndarray, set[int]]:
    """The error values (and their event times) of the detector-values topic, each source position
    once, in the order the topic holds them; and the source partitions that carried them (the
    event completing a join is the inference or the feedback, whichever came second)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    topic = f"{deployment.prefix}-app.detector-values"

    async def consume() -> list[DetectorValues]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=deployment.broker.bootstrap, enable_auto_commit=False
        )
        await consumer.start()
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        await consumer.seek_to_beginning()
        messages: list = []
        try:
            while batch := await consumer.getmany(timeout_ms=2000):
                messages += [m for part in batch.values() for m in part]
        finally:
            await consumer.stop()
        assert len({m.partition for m in messages}) == 1  # one version: one partition
        return [
            decode_values(m.value, now=time.time())
            for m in sorted(messages, key=lambda m: m.offset)
        ]

    fed: dict[tuple[str, int, int], int] = {}
    errors, times, carried = [], [], set()
    for message in asyncio.run(consume()):
        seen = [fed.get(source.log, -1) for source in message.sources]
        if "error" in message.streams:
            column = message.streams["error"]
            for position, value, value_time, k in zip(
                column.positions, column.values, column.times, column.source_of()
            ):
                if position > seen[k]:
                    carried.add(message.sources[k].partition)
                    errors.append(value)
                    times.append(value_time)
        for source, before in zip(message.sources, seen):
            fed[source.log] = max(before, source.last_position)
    return np.array(errors, dtype=np.float64), np.array(times), carried


def committed(deployment: Deployment) -> dict:
    """The group's committed offsets on the detector-values topic (read without joining the group)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def fetch() -> dict:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=deployment.broker.bootstrap,
            group_id=f"{deployment.prefix}-app",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            topic = f"{deployment.prefix}-app.detector-values"
            found = {
                p: await consumer.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)
            }
        finally:
            await consumer.stop()
        return {p: offset for p, offset in found.items() if offset is not None and offset >= 0}

    return asyncio.run(fetch())
