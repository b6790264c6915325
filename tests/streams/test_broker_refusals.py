"""A Kafka broker that refuses the worker's principal (an ACL, the SASL credentials) stops the batch
at once with what to grant; it is not retried as an outage.

The embedded broker has no authorization, so the refusal here is the error aiokafka raises for a
broker's authorization answer, raised where Faust's producer raises it (wrapped in its
``ProducerSendError``) by a topic that stands in for the broker's side; the batch runs through
the real ingest boundary on an embedded store. Before: every send failure was a ``BrokerError``,
retried with backoff for as long as the worker ran, its log saying "retrying"."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaTimeoutError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)
from faust.exceptions import ProducerSendError
from prometheus_client import CollectorRegistry
from tests_support import inference

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.join_store import MemoryJoinStore
from monitor.adapters.kafka_refusals import broker_refusal
from monitor.adapters.prometheus_metrics import MonitorMetrics
from monitor.contract.decode import Rejection
from monitor.contract.reasons import UNDECODABLE
from monitor.detectors.values import DetectorValues, StreamValues, offset_end, value_position
from monitor.errors import BrokerError, BrokerRefused, StoreRefused, is_retryable
from monitor.folding.pipeline import BatchConfig, Position, RawMessage
from monitor.services.ingest import BatchIngest, IngestHealth, RetryPolicy, ingest_batch
from monitor.services.outcomes import OutcomeStage
from streams.agents import DeadLetters
from streams.detector_agent import value_sender

NOW = 1_795_000_000.0


class RefusingTopic:
    """A topic whose broker answers every send with ``error`` (as Faust's producer raises it)."""

    def __init__(self, name: str, error: Exception) -> None:
        self.name, self.error, self.sends = name, error, 0

    def get_topic_name(self) -> str:
        return self.name

    async def send(self, **_: object) -> None:
        self.sends += 1
        raise ProducerSendError(f"Error while sending: {self.error!r}") from self.error


def rejection() -> tuple[RawMessage, Rejection]:
    return RawMessage("inf", 0, 3, b"{", "inference"), Rejection(UNDECODABLE, "", "bad", -1, b"{")


def values() -> DetectorValues:
    stream = StreamValues((value_position(3, 0),), (1.0,), (NOW,))
    return DetectorValues("m", "v1", "fb", 0, 0, offset_end(3), {"error": stream})


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        (TopicAuthorizationFailedError("t.dlq"), "needs Write and Describe on topic t.dlq"),
        (ClusterAuthorizationFailedError(), "IdempotentWrite"),
        (GroupAuthorizationFailedError(), "Read on its groups"),
        (SaslAuthenticationFailed(), "MONITOR_KAFKA_SASL_USERNAME"),
    ],
)
def test_each_refusal_of_the_principal_names_what_to_grant(error, fix):
    wrapped = ProducerSendError(f"Error while sending: {error!r}")
    wrapped.__cause__ = error
    refused = broker_refusal(wrapped, "the dead letters", "t.dlq")
    assert isinstance(refused, BrokerRefused) and not is_retryable(refused)
    assert str(refused).startswith("the Kafka broker refused the dead letters (")
    assert type(error).__name__ in str(refused) and fix in str(refused)


@pytest.mark.parametrize("error", [KafkaConnectionError("down"), KafkaTimeoutError(), OSError()])
def test_an_outage_is_not_a_refusal(error):
    assert broker_refusal(error, "the dead letters", "t") is None


def test_a_cause_chain_that_loops_ends():
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__cause__, second.__cause__ = second, first
    assert broker_refusal(first, "the dead letters", "t") is None


def test_dead_letters_refused_by_an_acl_are_a_refusal_an_outage_stays_retryable():
    metrics = MonitorMetrics(CollectorRegistry())
    refused = DeadLetters(RefusingTopic("t.dlq", TopicAuthorizationFailedError("t.dlq")), metrics)
    with pytest.raises(BrokerRefused, match="Write and Describe on topic t.dlq"):
        asyncio.run(refused.send([rejection()], NOW))
    down = DeadLetters(RefusingTopic("t.dlq", KafkaConnectionError("down")), metrics)
    with pytest.raises(BrokerError, match="dead letters not delivered") as caught:
        asyncio.run(down.send([rejection()], NOW))
    assert is_retryable(caught.value)


def test_detector_values_refused_by_an_acl_are_a_refusal_an_outage_stays_retryable():
    name = "app.detector-values"
    with pytest.raises(BrokerRefused, match=f"detector values .*topic {name}"):
        asyncio.run(
            value_sender(RefusingTopic(name, TopicAuthorizationFailedError(name)))([values()])
        )
    with pytest.raises(BrokerError, match="detector values not delivered") as caught:
        asyncio.run(value_sender(RefusingTopic(name, KafkaTimeoutError()))([values()]))
    assert is_retryable(caught.value)


@pytest.fixture()
def store(chdb_dir) -> ClickHouseStore:
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    return store


def test_a_batch_whose_dead_letters_the_broker_refuses_stops_at_once_unwritten(store):
    """One bad message in the batch: its dead letter is refused by the DLQ topic's ACL. The batch
    stops at the first attempt (no backoff, nothing written, the valid events are read again at
    the next start), where it was retried for as long as the worker ran."""
    topic = RefusingTopic("t.dlq", TopicAuthorizationFailedError("t.dlq"))
    letters = DeadLetters(topic, MonitorMetrics(CollectorRegistry()))
    sleeps: list[float] = []
    health = IngestHealth(failing_after=60)
    raw = [
        RawMessage("inf", 0, 1, orjson.dumps([inference("a", NOW - 10)]), "inference"),
        RawMessage("inf", 0, 2, b"{not json", "inference"),
    ]
    config = BatchConfig(window_seconds=60, allowed_lateness=600, max_future_skew=300, now=NOW)

    async def positions_for(sources):
        return {src: Position(*store.read_position(*src)) for src in sources}

    async def blocking(fn, *args):
        return fn(*args)

    async def sleep(seconds):
        sleeps.append(seconds)

    with pytest.raises(StoreRefused, match="refused the dead letters .*topic t.dlq"):
        asyncio.run(
            ingest_batch(
                raw,
                BatchIngest(store, OutcomeStage(MemoryJoinStore(), window_seconds=60), []),
                config_for=lambda: config,
                positions_for=positions_for,
                send_dead_letters=letters.send,
                blocking=blocking,
                sleep=sleep,
                stopping=lambda: len(sleeps) >= 3,
                health=health,
                policy=RetryPolicy(),
            )
        )
    assert sleeps == [] and topic.sends == 1
    assert store.read_position("inf", 0)[0] == -1  # nothing written: read again at the next start
    body, _ = health.report(NOW)
    assert (
        body["consecutive_failures"] == 1 and "TopicAuthorizationFailedError" in body["last_error"]
    )
