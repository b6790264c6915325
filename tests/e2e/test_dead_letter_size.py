"""A message whose dead letter would be larger than a Kafka record may be is dead-lettered with its
original cut short, its size and its source position, and the batch goes on."""

from __future__ import annotations

import time

import orjson
from tests_support import inference, publish_raw, read_topic, wait_until, written_inferences

from monitor.contract.fields import MAX_RECORD_BYTES


def test_a_message_whose_dead_letter_is_too_large_is_cut_short_and_the_batch_goes_on(
    deployment, start_worker
):
    """Before: a 1,000,000-byte message of control characters (within MONITOR_MAX_MESSAGE_BYTES,
    not JSON) made a 6 MB dead letter (each byte escaped as \\u0001) that the producer refused
    (MessageSizeTooLargeError); the refusal was taken for a broker outage and the batch retried
    for ever: nothing after it was ever counted."""
    worker = start_worker()
    now = time.time()
    escaped = b"\x01" * 1_000_000  # UTF-8 text, not JSON
    binary = b"\xff" * 900_000  # not UTF-8: its dead letter holds it as base64
    good = [orjson.dumps(inference(f"ok-{i}", now)) for i in range(3)]
    publish_raw(
        deployment.broker.bootstrap,
        deployment.topics["inference"],
        [good[0], escaped, good[1], binary, good[2]],
    )

    dead = read_topic(deployment.broker.bootstrap, deployment.topics["dlq"], expected=2, timeout=60)
    by_reason = {record["reason"]: record for record in dead}
    assert set(by_reason) == {"undecodable", "not_utf8"}
    text, base64 = by_reason["undecodable"], by_reason["not_utf8"]
    assert text["original_truncated"] and text["original_bytes"] == len(escaped)
    assert text["original"] and set(text["original"]) == {"\x01"}
    assert base64["original_truncated"] and base64["original_bytes"] == len(binary)
    assert base64["original_base64"] and base64["original"] is None
    for record in dead:
        assert len(orjson.dumps(record)) <= MAX_RECORD_BYTES
        assert record["source"]["offset"] in (1, 3)  # where to read the whole original again

    wait_until(lambda: written_inferences(worker) == len(good), what="the valid events around them")
    assert worker.alive()
