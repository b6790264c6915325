"""Ledger of what a fault test produced, and the figures it is judged by.

The expected counts are per (kind, window, model version): an event lost in one bucket and one
double counted in another never cancel out. Dead letters are counted by their key (source
topic/partition/offset/index), so a dead letter sent twice around a crash is one dead-lettered event.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from tests_support import inference, missing_service, reader_for

from monitor.adapters.local_broker import LocalBroker, free_port, wait_for_port
from monitor.adapters.producer import EventProducer

WINDOW = 60
EVENT_NAMES = {
    "inference_events": "inference",
    "late_inference_events": "inference",
    "feedback_events": "feedback",
    "late_feedback_events": "feedback",
    "outcome:satisfaction": "outcome",
}
WRITTEN_SQL = (
    "SELECT name, toUnixTimestamp(window_start), model_version, sum(count) FROM monitor.partials "
    f"WHERE name IN ({', '.join(repr(n) for n in EVENT_NAMES)}) GROUP BY 1, 2, 3"
)


@dataclass
class Figures:
    """What one fault case sent, wrote, dead-lettered, lost and double counted (events and outcomes)."""

    sent: int
    written: int
    dead_lettered: int
    lost: int
    double_counted: int
    outcomes_expected: int
    outcomes_written: int
    outcomes_lost: int
    outcomes_double_counted: int

    def line(self, case: str) -> str:
        return (
            f"{case}: sent {self.sent}, written {self.written}, dead-lettered {self.dead_lettered}, "
            f"lost {self.lost}, double-counted {self.double_counted}; outcomes {self.outcomes_written}"
            f"/{self.outcomes_expected} (lost {self.outcomes_lost}, double {self.outcomes_double_counted})"
        )


@dataclass
class Ledger:
    """Everything a test produced: valid inferences and feedback, and invalid feedback."""

    t0: float = field(default_factory=lambda: time.time() - 600)
    inferences: list[dict] = field(default_factory=list)
    feedback: list[dict] = field(default_factory=list)
    invalid: int = 0

    def inferences_batch(self, n: int) -> list[dict]:
        """``n`` more inferences, event time increasing by 0.1 s, versions v1/v2 in turn."""
        first = len(self.inferences)
        batch = [
            inference(
                f"r{i}", self.t0 + 0.1 * i, version=f"v{1 + i % 2}", latency_ms=float(50 + i % 500)
            )
            for i in range(first, first + n)
        ]
        self.inferences += batch
        return batch

    def feedback_for(
        self, inferences: list[dict], every: int = 3, invalid_every: int = 50
    ) -> list[dict]:
        """A rating for every ``every``-th inference; every ``invalid_every``-th one is out of range (DLQ)."""
        batch = []
        for k, event in enumerate(inferences[::every]):
            bad = k % invalid_every == invalid_every - 1
            batch.append(
                {
                    "request_id": event["request_id"],
                    "timestamp": event["timestamp"] + 1,
                    "rating": 7 if bad else 1 + k % 5,
                }
            )
            if bad:
                self.invalid += 1
            else:
                self.feedback.append(batch[-1])
        return batch

    def expected(self) -> Counter:
        counts: Counter = Counter()
        versions = {e["request_id"]: (e["timestamp"], e["model_version"]) for e in self.inferences}
        for e in self.inferences:
            counts[("inference", _window(e["timestamp"]), e["model_version"])] += 1
        for f in self.feedback:
            counts[("feedback", _window(f["timestamp"]), "")] += 1
            ts, version = versions[f["request_id"]]
            counts[("outcome", _window(ts), version)] += 1  # attributed to the inference's window
        return counts

    @property
    def valid(self) -> int:
        """Valid events produced so far: what a worker's ``monitor_events_total`` reaches."""
        return len(self.inferences) + len(self.feedback)

    @property
    def sent(self) -> int:
        return len(self.inferences) + len(self.feedback) + self.invalid

    def figures(
        self, written: Counter, dead_lettered: int, expected: Counter | None = None
    ) -> Figures:
        expected = self.expected() if expected is None else expected
        keys = set(expected) | set(written)

        def sums(kinds: set[str]) -> tuple[int, int, int]:
            ks = [k for k in keys if k[0] in kinds]
            return (
                sum(int(written[k]) for k in ks),
                sum(max(0, int(expected[k] - written[k])) for k in ks),
                sum(max(0, int(written[k] - expected[k])) for k in ks),
            )

        events, lost, double = sums({"inference", "feedback"})
        outcomes, outcomes_lost, outcomes_double = sums({"outcome"})
        return Figures(
            self.sent,
            events,
            dead_lettered,
            lost,
            double,
            sum(int(v) for k, v in expected.items() if k[0] == "outcome"),
            outcomes,
            outcomes_lost,
            outcomes_double,
        )


def _window(ts: float) -> int:
    return int(ts // WINDOW * WINDOW)


def publish(
    bootstrap: str, topics: dict[str, str], inferences: list[dict], feedback: list[dict]
) -> None:
    """Send as a producer would, ten events per message; invalid events go through unvalidated."""

    async def send() -> None:
        async with EventProducer(
            bootstrap, topics=topics, batch_size=10, validate=False
        ) as producer:
            if inferences:
                await producer.send("inference", inferences)
            if feedback:
                await producer.send("feedback", feedback)

    asyncio.run(send())


def written_counts(worker) -> Counter:
    """Counts in the store's partials per (kind, window, version), read through ``worker``'s web port."""
    counts: Counter = Counter()
    for name, window, version, count in reader_for(worker).query(WRITTEN_SQL).rows:
        counts[(EVENT_NAMES[name], int(window), version)] += float(count)
    return counts


def dead_letter_keys(
    bootstrap: str, topic: str, timeout: float = 60.0, **consumer_options: Any
) -> set[bytes]:
    """Distinct keys of every record on the dead-letter topic, read up to the high watermark the
    broker's fetches report; ``AssertionError`` if that end is not reached within ``timeout``.

    Not up to the listed end offsets: Tansu lists a partition's latest offset from its newest
    record-batch object (by modification time, to the second on S3), often below the log end, and
    a Tansu fetch returns only the batches it read within the fetch's max wait, a prefix of the log
    when the store is slow (a loaded machine). A read that stopped at the listed end after a short
    first fetch left the last records unread. ``consumer_options`` go to the consumer. A store
    slower than the max wait for every fetch of the next batch returns nothing each time: after
    ``STALL_SECONDS`` without a record the read goes on from where it is with twice the wait."""

    async def read() -> set[bytes]:
        options = dict(consumer_options)
        keys: set[bytes] = set()
        deadline = time.monotonic() + timeout
        at: dict[TopicPartition, int] = {}
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, **options
            )
            await consumer.start()
            try:
                parts = [
                    TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or {0})
                ]
                consumer.assign(parts)
                await consumer.seek_to_beginning(*parts)
                for tp, offset in at.items():
                    consumer.seek(tp, offset)
                progress = time.monotonic()
                while behind := [tp for tp in parts if await _behind_high_watermark(consumer, tp)]:
                    if time.monotonic() > deadline:
                        ends = {tp.partition: consumer.highwater(tp) for tp in behind}
                        reached = {tp.partition: await consumer.position(tp) for tp in behind}
                        raise AssertionError(
                            f"{topic}: read to {reached}, not to the high watermarks {ends}, "
                            f"within {timeout:g} s ({len(keys)} keys read, fetch max wait "
                            f"{options.get('fetch_max_wait_ms', 500)} ms at the end)"
                        )
                    for messages in (await consumer.getmany(*behind, timeout_ms=500)).values():
                        keys.update(m.key for m in messages)
                        progress = time.monotonic() if messages else progress
                    if time.monotonic() - progress > STALL_SECONDS:
                        break
                else:
                    return keys
                at = {tp: await consumer.position(tp) for tp in parts}
                options["fetch_max_wait_ms"] = 2 * options.get("fetch_max_wait_ms", 500)
            finally:
                await consumer.stop()

    return asyncio.run(read())


STALL_SECONDS = 10.0  # dead_letter_keys: this long without a record, a fetch waits twice as long


async def _behind_high_watermark(consumer: AIOKafkaConsumer, tp: TopicPartition) -> bool:
    """True until a fetch has reported the partition's high watermark and the position reached it."""
    high = consumer.highwater(tp)
    return high is None or await consumer.position(tp) < high


class ServiceProcess:
    """A service subprocess on a fixed loopback port that a test kills (SIGKILL) and starts again."""

    def __init__(
        self, argv: list[str], port: int, log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.argv, self.port, self.log, self.env = argv, port, log, env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> ServiceProcess:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(self.env or {})},
            )
        if not wait_for_port("127.0.0.1", self.port, timeout):
            self.kill()
            raise RuntimeError(f"{self.argv[0]} did not listen on {self.port}; see {self.log}")
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


def redis_server(tmp: Path, persistent: bool) -> ServiceProcess:
    """A redis-server of the test's own on a free port; with AOF fsynced on every write if ``persistent``."""
    binary = shutil.which("redis-server")
    if not binary:
        missing_service("redis-server")
    port = free_port()
    data = tmp / "redis-data"
    data.mkdir(exist_ok=True)
    persistence = (
        ["--appendonly", "yes", "--appendfsync", "always"] if persistent else ["--appendonly", "no"]
    )
    return ServiceProcess(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--save",
            "",
            *persistence,
        ],
        port,
        tmp / "redis.log",
    )


def s3_server(tmp: Path) -> tuple[ServiceProcess, dict[str, str]]:
    """An S3-compatible server (moto) on loopback and the environment that points Tansu at it."""
    port = free_port()
    server = ServiceProcess(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        port,
        tmp / "s3.log",
    )
    env = {
        "AWS_ENDPOINT": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }
    return server, env


def create_bucket(env: dict[str, str], bucket: str) -> None:
    import boto3

    boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    ).create_bucket(Bucket=bucket)


@contextmanager
def broker_on_s3(tmp: Path, bucket: str) -> Iterator[LocalBroker]:
    """A started Tansu broker of the test's own whose log lives in a bucket of a moto S3 server;
    both stopped afterwards (the broker can be killed and started again meanwhile)."""
    s3, env = s3_server(tmp)
    s3.start()
    broker = LocalBroker(storage=f"s3://{bucket}/", env=env, log_path=tmp / "broker.log")
    try:
        create_bucket(env, bucket)
        broker.start()
        yield broker
    finally:
        broker.stop()
        s3.kill()
