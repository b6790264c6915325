"""Bad input goes to the dead-letter topic with a precise reason; valid events of the same batch go on."""

from __future__ import annotations

import asyncio
import time

import orjson
from tests_support import inference, read_topic, reader_for, wait_until

from monitor.adapters.producer import EventProducer


def publish_raw(bootstrap: str, topic: str, values: list[bytes]) -> None:
    async def send() -> None:
        async with EventProducer(bootstrap) as producer:
            for value in values:
                await producer.send_raw(topic, value, key=b"k", partition=0)

    asyncio.run(send())


def inference_count(worker) -> float:
    rows = (
        reader_for(worker)
        .query(
            "SELECT sum(value) FROM monitor.metric_windows FINAL WHERE metric = 'inference_events'"
        )
        .rows
    )
    return float(rows[0][0] or 0)


def test_each_kind_of_bad_input_is_dead_lettered_and_valid_events_go_on(deployment, start_worker):
    worker = start_worker(MONITOR_MAX_MESSAGE_BYTES="4096", MONITOR_MAX_FUTURE_SKEW="60s")
    now = time.time()
    good = [inference(f"ok-{i}", now) for i in range(6)]
    nan_batch = (
        b"["
        + orjson.dumps(good[0])
        + b', {"request_id": "nan-1", "timestamp": '
        + str(now).encode()
        + b', "model": "m", "model_version": "v1", "features": {"x": NaN}}, '
        + orjson.dumps(good[1])
        + b"]"
    )
    messages = {
        "not_utf8": b"\xff\xfe\x00 not json",
        "undecodable": b'{"request_id": "u-1", ',
        "wrong_type": orjson.dumps([good[2], {**inference("wt-1", now), "model_version": 3}]),
        "missing_field": orjson.dumps(
            [{k: v for k, v in inference("mf-1", now).items() if k != "model"}, good[3]]
        ),
        "oversized": orjson.dumps({**inference("big-1", now), "input_text": "x" * 10_000}),
        "not_finite": nan_batch,
        "future_timestamp": orjson.dumps([inference("fut-1", now + 3600), good[4]]),
        "bad_choice": orjson.dumps([{**inference("th-1", now), "deployment": "staging"}, good[5]]),
    }
    publish_raw(
        deployment.broker.bootstrap, deployment.topics["inference"], list(messages.values())
    )

    dead = read_topic(deployment.broker.bootstrap, deployment.topics["dlq"], expected=len(messages))
    by_reason = {record["reason"]: record for record in dead}
    assert set(by_reason) == set(messages)
    assert by_reason["wrong_type"]["field"] == "model_version"
    assert by_reason["missing_field"]["field"] == "model"
    assert by_reason["not_finite"]["field"] == "features.x"
    assert "4096" in by_reason["oversized"]["error"]
    assert by_reason["not_utf8"]["original_base64"]  # not UTF-8: kept as base64
    assert orjson.loads(by_reason["future_timestamp"]["original"])["request_id"] == "fut-1"
    for record in dead:
        assert record["source"]["topic"] == deployment.topics["inference"]
        assert record["source"]["partition"] == 0 and record["source"]["offset"] >= 0

    wait_until(
        lambda: inference_count(worker) == len(good), what="the valid events of the bad batches"
    )
    assert worker.alive()
    assert worker.metric("monitor_events_rejected_total", {"reason": "not_finite"}) == 1
    assert worker.metric("monitor_dlq_messages_total") == len(messages)

    # The worker keeps going after all of that.
    publish_raw(
        deployment.broker.bootstrap,
        deployment.topics["inference"],
        [orjson.dumps([inference(f"later-{i}", time.time()) for i in range(10)])],
    )
    wait_until(
        lambda: inference_count(worker) == len(good) + 10, what="events sent after the bad input"
    )


def test_bad_feedback_is_dead_lettered_per_field(deployment, start_worker):
    worker = start_worker()
    now = time.time()
    batch = [
        {"request_id": "f1", "timestamp": now, "rating": 7},
        {"request_id": "f2", "timestamp": now, "thumbs": "sideways"},
        {"request_id": "f3", "timestamp": now, "human_takeover": "yes"},
        {"request_id": "f4", "timestamp": now, "rating": 5, "task_completed": True},
    ]
    publish_raw(deployment.broker.bootstrap, deployment.topics["feedback"], [orjson.dumps(batch)])
    dead = read_topic(deployment.broker.bootstrap, deployment.topics["dlq"], expected=3)
    assert sorted((d["field"], d["reason"]) for d in dead) == [
        ("human_takeover", "wrong_type"),
        ("rating", "out_of_range"),
        ("thumbs", "bad_choice"),
    ]
    assert sorted(d["source"]["index"] for d in dead) == [0, 1, 2]
    wait_until(
        lambda: worker.metric("monitor_events_total", {"kind": "feedback"}) == 1,
        what="valid feedback",
    )
    assert worker.alive()
