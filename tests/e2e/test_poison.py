"""Poison messages through the real broker and a real worker: each class is dead-lettered with its
reason, the valid events of the same messages and batch are written, and the worker stays healthy."""

from __future__ import annotations

import json
import time
import urllib.request

import orjson
from tests_support import (
    inference,
    publish_raw,
    read_topic,
    wait_until,
    written_inferences,
)

from monitor.contract.decode import MAX_EVENTS_PER_MESSAGE


def health(worker) -> tuple[int, dict]:
    with urllib.request.urlopen(f"{worker.url}/health", timeout=5) as response:
        return response.status, json.loads(response.read())


def test_every_poison_class_is_dead_lettered_and_the_batch_goes_on(deployment, start_worker):
    worker = start_worker()
    now = time.time()
    good = [orjson.dumps(inference(f"ok-{i}", now)) for i in range(8)]
    ev = lambda rid, **fields: {**inference(rid, now), **fields}
    exact = lambda obj: json.dumps(obj).encode()  # stdlib json keeps integers beyond 64 bits exact
    poison = {
        ("out_of_range", "features.n"): exact(
            [json.loads(good[0]), ev("big-feature", features={"n": 2**64})]
        ),
        ("out_of_range", "usage.input_tokens"): exact(
            ev("big-tokens", usage={"input_tokens": 2**70})
        ),
        ("out_of_range", "prediction"): exact(
            [ev("big-prediction", prediction=-(2**63) - 1), json.loads(good[1])]
        ),
        ("not_utf8", "model"): b"["
        + good[2]
        + b", "
        + orjson.dumps(ev("surrogate", model="m"))[:-1].replace(
            b'"model":"m"', b'"model":"m\\ud800"'
        )
        + b"}]",
        ("not_utf8", ""): b'{"request_id": "bytes\xc3\x28", "timestamp": 1}',
        ("too_long", "model_version"): orjson.dumps(
            [ev("long-version", model_version="v" * 300), json.loads(good[3])]
        ),
        ("too_long", "features"): orjson.dumps(ev("long-feature-name", features={"f" * 300: 1})),
        ("ancient_timestamp", "timestamp"): orjson.dumps(
            [json.loads(good[4]), ev("ancient", timestamp=86_400)]
        ),
        ("too_deep", ""): b'{"request_id": "deep", "x": ' + b"[" * 3000 + b"]" * 3000 + b"}",
        ("too_many_events", ""): b"["
        + b",".join([b"{}"] * MAX_EVENTS_PER_MESSAGE + [good[5]])
        + b"]",
        ("wrong_type", "features.x"): orjson.dumps(
            [ev("nested-feature", features={"x": {"y": 1}}), json.loads(good[6])]
        ),
    }
    # poison interleaved with clean messages: one consumer batch holds both
    publish_raw(
        deployment.broker.bootstrap,
        deployment.topics["inference"],
        [good[7], *poison.values(), orjson.dumps([inference(f"tail-{i}", now) for i in range(5)])],
    )
    feedback = exact(
        [
            {"request_id": "ok-0", "timestamp": now, "rating": 5},
            {"request_id": "ok-1", "timestamp": now, "turns": 2**64},
        ]
    )
    publish_raw(deployment.broker.bootstrap, deployment.topics["feedback"], [feedback])

    dead = read_topic(
        deployment.broker.bootstrap, deployment.topics["dlq"], expected=len(poison) + 1
    )
    got = sorted((d["reason"], d["field"]) for d in dead)
    assert got == sorted([*poison, ("out_of_range", "turns")])
    for record in dead:
        assert record["error"] and record["source"]["offset"] >= 0
    by_field = {d["field"]: d for d in dead}
    assert "lone surrogate U+D800" in by_field["model"]["error"]
    assert "18446744073709551616 is outside" in by_field["features.n"]["error"]
    assert "1970-01-02T00:00:00Z is before 2000-01-01" in by_field["timestamp"]["error"]

    valid = (
        7 + 5
    )  # ok-0 .. ok-4 and ok-6 in poisoned messages (ok-5 drowns in a huge array), ok-7, five tail events
    wait_until(
        lambda: written_inferences(worker) == valid, what="the valid events of the poisoned batch"
    )
    wait_until(
        lambda: worker.metric("monitor_events_total", {"kind": "feedback"}) == 1,
        what="valid feedback",
    )
    assert worker.metric("monitor_events_rejected_total") == len(poison) + 1
    assert worker.alive()
    status, body = health(worker)
    assert status == 200 and body["status"] == "ok" and body["consecutive_failures"] == 0
    assert body["last_write_at"] >= now
