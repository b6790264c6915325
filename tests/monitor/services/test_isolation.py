"""A message that makes processing raise is dead-lettered; the rest of its batch goes on."""

from __future__ import annotations

import orjson
import pytest
from tests_support import inference

from monitor.contract.reasons import INTERNAL_ERROR
from monitor.folding.pipeline import BatchConfig, RawMessage
from monitor.services.isolation import process_isolating

NOW = 1_795_000_000.0
CONFIG = BatchConfig(window_seconds=60, allowed_lateness=600, max_future_skew=300, now=NOW)


def exploding_fold(events, starts, window):
    if any(e.request_id == "boom" for e in events):
        raise RuntimeError("a bug in a fold")
    return []


def message(offset: int, *request_ids: str) -> RawMessage:
    value = orjson.dumps([inference(r, NOW - 10) for r in request_ids])
    return RawMessage("inf", 0, offset, value, "inference")


def test_the_message_that_raises_is_dead_lettered_and_the_others_are_processed():
    batch = [message(1, "a", "b"), message(2, "boom", "c"), message(3, "d")]
    out = process_isolating(batch, {}, CONFIG, [exploding_fold])
    assert out.events["inference"] == 3  # a, b, d
    assert [(m.offset, r.reason) for m, r in out.rejections] == [(2, INTERNAL_ERROR)]
    assert "RuntimeError: a bug in a fold" in out.rejections[0][1].detail
    assert out.rejections[0][1].original == batch[1].value
    assert out.sources[("inf", 0)].last_offset == 3


def test_a_batch_without_trouble_is_processed_once_as_is():
    out = process_isolating([message(1, "a"), message(2, "b")], {}, CONFIG, [exploding_fold])
    assert out.events["inference"] == 2 and not out.rejections


def test_a_join_store_refusing_its_user_is_raised_and_blames_no_message(password_redis):
    """The resend check's read (one MGET) refused by the ACL: a configuration error, not the
    messages'. Bisecting the batch would dead-letter every message ``internal_error``."""
    from redis_support import OUTSIDER, OUTSIDER_PASSWORD

    from monitor.adapters.join_store import RedisJoinStore
    from monitor.errors import StoreRefused

    join = RedisJoinStore(password_redis.url(OUTSIDER_PASSWORD, user=OUTSIDER), prefix="iso:")
    try:
        with pytest.raises(StoreRefused, match="stored inferences failed: Redis refused a command"):
            process_isolating(
                [message(1, "a"), message(2, "b")], {}, CONFIG, [], None, join.stored_inferences
            )
    finally:
        join.close()
