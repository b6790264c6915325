"""One message whose events complete a great many joins (every pending feedback of their requests)
gives detector values of one source offset larger than a Kafka record: they go in parts, and the
batch goes on."""

from __future__ import annotations

import time

import orjson
import pytest
from tests_support import inference, publish_raw, read_topic, wait_until, written_inferences

from monitor.contract.fields import MAX_RECORD_BYTES

REQUESTS = 2_000  # answered by one inference message
PENDING = 30  # feedback events of each request before it: 3 detector values each
PER_MESSAGE = 2_000


@pytest.mark.parametrize("join_store", ["memory", "redis"])
def test_a_message_that_completes_sixty_thousand_joins_does_not_stall_the_worker(
    deployment, start_worker, request, join_store: str
):
    """Before: the values of the one message (180,000, 3 MB) could not be cut (a part held whole
    offsets), the producer refused the record (MessageSizeTooLargeError), the refusal was taken
    for a broker outage and the batch retried for ever: nothing after it was counted (with 40,000,
    a 1.98 MB record went through the local broker; a Kafka broker refuses one over 1 MB)."""
    redis = (
        {"MONITOR_REDIS_URL": request.getfixturevalue("redis_url")} if join_store == "redis" else {}
    )
    worker = start_worker(**redis)
    now = time.time()
    feedback = [
        {
            "request_id": f"r{i % REQUESTS}",
            "timestamp": now + i * 1e-3,
            "rating": 1 + i % 5,
            "answer": "yes" if i % 3 else "no",
            "judge_score": float(i % 11),
        }
        for i in range(REQUESTS * PENDING)
    ]
    publish_raw(
        deployment.broker.bootstrap,
        deployment.topics["feedback"],
        [orjson.dumps(feedback[i : i + PER_MESSAGE]) for i in range(0, len(feedback), PER_MESSAGE)],
    )
    wait_until(
        lambda: worker.metric("monitor_events_total", {"kind": "feedback"}) == len(feedback),
        what="the pending feedback",
        timeout=120,
    )
    joined = [inference(f"r{i}", now - 1, prediction="yes") for i in range(REQUESTS)]
    after = [inference(f"after-{i}", now, prediction="yes") for i in range(3)]
    publish_raw(
        deployment.broker.bootstrap,
        deployment.topics["inference"],
        [orjson.dumps(joined), orjson.dumps(after)],
    )
    wait_until(
        lambda: written_inferences(worker) == REQUESTS + 3,
        what="the events after it",
        timeout=120,
    )
    assert worker.alive()
    sizes = [
        len(orjson.dumps(message))
        for message in read_topic(
            deployment.broker.bootstrap,
            f"{deployment.prefix}-app.detector-values",
            # the one message's values come in four parts, the three events after it may join
            # the last: waiting for a fifth record waited out the timeout whenever they did
            expected=4,
            timeout=30,
        )
    ]
    assert max(sizes) <= MAX_RECORD_BYTES and sum(sizes) > 2.5 * MAX_RECORD_BYTES
