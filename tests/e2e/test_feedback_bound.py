"""A producer that sends one request far more feedback than MONITOR_MAX_FEEDBACK_PER_REQUEST,
through the real broker and worker: the window counts exactly the bound for that request, and
`monitor dead-letters` lists every event past it with its reason."""

from __future__ import annotations

import json
import re
import time

import orjson
import pytest
from tests_support import inference, monitor_cli, publish_raw, reader_for, wait_until

BOUND = 5
SENT = 12  # thumbs-down events for request "flood", without feedback ids


def _window_count(worker, metric: str) -> tuple[float, float]:
    rows = (
        reader_for(worker)
        .query(
            "SELECT sum(numerator), sum(count) FROM monitor.metric_windows FINAL "
            "WHERE metric = {m:String} AND segment = ''",
            {"m": metric},
        )
        .rows
    )
    return float(rows[0][0] or 0), float(rows[0][1] or 0)


@pytest.mark.parametrize("join_store", ["memory", "redis"])
def test_feedback_past_the_bound_is_dead_lettered_and_the_window_counts_the_bound(
    deployment, start_worker, request, join_store: str
) -> None:
    """Before: the twelve thumbs-down of one request counted twelve times in its window's
    satisfaction (12 of 13 observations unsatisfied, from two requests)."""
    redis = (
        {"MONITOR_REDIS_URL": request.getfixturevalue("redis_url")} if join_store == "redis" else {}
    )
    worker = start_worker(MONITOR_MAX_FEEDBACK_PER_REQUEST=str(BOUND), **redis)
    env = deployment.env()
    now = time.time()
    bootstrap, topics = deployment.broker.bootstrap, deployment.topics
    publish_raw(
        bootstrap,
        topics["inference"],
        [orjson.dumps([inference("flood", now - 5), inference("calm", now - 5)])],
    )
    flood = [{"request_id": "flood", "timestamp": now, "thumbs": "down"} for _ in range(SENT)]
    publish_raw(
        bootstrap,
        topics["feedback"],
        [
            orjson.dumps(flood[:4]),
            orjson.dumps([*flood[4:8], {"request_id": "calm", "timestamp": now, "thumbs": "up"}]),
            orjson.dumps(flood[8:]),
        ],
    )
    refused = {"kind": "feedback", "reason": "too_many_feedback"}
    wait_until(
        lambda: (
            worker.metric("monitor_events_rejected_total", refused) == SENT - BOUND
            and _window_count(worker, "satisfaction") == (1.0, BOUND + 1.0)
        ),
        timeout=120,
        what="the refused feedback dead-lettered and the window counted",
    )
    assert worker.metric("monitor_events_total", {"kind": "feedback"}) == BOUND + 1

    shown = monitor_cli("dead-letters", "--reason", "too_many_feedback", env=env).stdout
    assert re.search(r"^feedback\s+too_many_feedback\s+request_id\s+7$", shown, re.MULTILINE), shown
    listed = monitor_cli(
        "dead-letters", "--reason", "too_many_feedback", "--format", "json", env=env
    ).stdout
    records = [json.loads(line) for line in listed.splitlines()]
    assert len(records) == SENT - BOUND
    for record in records:
        assert (record["kind"], record["field"]) == ("feedback", "request_id")
        assert record["error"] == (
            "request_id: 'flood' holds 5 feedback events already, the most one request keeps "
            "(MONITOR_MAX_FEEDBACK_PER_REQUEST); this one is not counted"
        )
        assert json.loads(record["original"]) == flood[0]
    assert worker.alive()
