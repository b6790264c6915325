"""Outcomes end to end: late and reordered feedback joins its inference through the real broker, with
the memory and the Redis join store; orphans expire into a counter; pending joins and detector state
survive a graceful stop and a kill -9."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import numpy as np
import pytest
from tests_support import inference, reader_for, wait_until

from monitor.adapters.producer import EventProducer, partition_for
from monitor.outcomes.fold import OUTCOME_METRICS
from monitor.outcomes.intervals import wilson_interval

WINDOW = 60
PROPORTIONS = {"satisfaction", "task_completion", "human_takeover", "bad_case", "accuracy"}
OUTCOME_ROWS = (
    "SELECT toFloat64(window_start), model_version, segment, metric, numerator, count, value, low, high "
    "FROM monitor.metric_windows FINAL WHERE has({metrics:Array(String)}, metric)"
)


def publish(deployment, kind: str, events: list[dict], batch_size: int = 7) -> None:
    async def send() -> None:
        async with EventProducer(
            deployment.broker.bootstrap, topics=deployment.topics, batch_size=batch_size
        ) as producer:
            report = await producer.send(kind, events)
            assert not report.rejected, report.rejected[:3]

    asyncio.run(send())


def store_sum(worker, metric: str) -> float:
    rows = (
        reader_for(worker)
        .query(
            "SELECT sum(count) FROM monitor.metric_windows FINAL WHERE metric = {m:String} "
            "AND segment = ''",
            {"m": metric},
        )
        .rows
    )
    return float(rows[0][0] or 0)


@pytest.fixture()
def clean_redis(redis_url: str, deployment) -> str:
    """The Redis URL; the ``deployment`` fixture deletes this test's keys (every app id it used)
    once its workers are stopped."""
    return redis_url


# -- 1. delayed and reordered feedback ---------------------------------------------------------------------


def feedback_plan(rng: np.random.Generator) -> dict:
    """The feedback of one request: each field reported or not, every field known in advance."""
    values = {
        "label": str(rng.choice(["yes", "no"])),
        "rating": int(rng.integers(1, 6)),
        "task_completed": bool(rng.random() < 0.7),
        "human_takeover": bool(rng.random() < 0.2),
        "bad_case": bool(rng.random() < 0.1),
        "turns": int(rng.integers(1, 12)),
        "judge_score": float(rng.integers(0, 21)) / 2,  # halves: sums are exact in any order
    }
    if rng.random() < 0.3:  # thumbs instead of a rating
        values["thumbs"] = str(rng.choice(["up", "down"]))
        del values["rating"]
    return {k: v for k, v in values.items() if rng.random() < 0.7}


def split_into_events(
    rid: str, fields: dict, feedback_time: float, rng: np.random.Generator
) -> list[dict]:
    """One to three feedback events for ``rid``, each field in exactly one of them."""
    n = int(rng.integers(1, 4)) if len(fields) > 1 else 1
    parts: list[dict] = [{} for _ in range(n)]
    for i, (name, value) in enumerate(fields.items()):
        parts[(i + int(rng.integers(0, n))) % n][name] = value
    return [
        {"request_id": rid, "timestamp": feedback_time + j, **part}
        for j, part in enumerate(parts)
        if part
    ]


def expected_outcomes(
    inferences: dict[str, dict], fields_of: dict[str, dict]
) -> dict[tuple, tuple[float, float]]:
    """(window, version, segment, metric) -> (numerator, count), computed request by request."""
    sums: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])

    def add(key: tuple, metric: str, numerator: float) -> None:
        window, version, region = key
        for segment in ("", f"region={region}"):
            total = sums[(window, version, segment, metric)]
            total[0] += numerator
            total[1] += 1

    for rid, fields in fields_of.items():
        inf = inferences[rid]
        key = (
            float(inf["timestamp"] // WINDOW * WINDOW),
            inf["model_version"],
            inf["segment"]["region"],
        )
        if "rating" in fields:
            add(key, "satisfaction", float(fields["rating"] >= 4))
            add(key, "rating", fields["rating"])
        if "thumbs" in fields:
            add(key, "satisfaction", float(fields["thumbs"] == "up"))
        for name, metric in (
            ("task_completed", "task_completion"),
            ("human_takeover", "human_takeover"),
            ("bad_case", "bad_case"),
            ("turns", "turns"),
            ("judge_score", "judge_score"),
        ):
            if name in fields:
                add(key, metric, float(fields[name]))
        if "label" in fields:
            add(key, "accuracy", float(fields["label"] == inf["prediction"]))
    return {key: (num, n) for key, (num, n) in sums.items()}


def outcome_rows(worker) -> dict[tuple, tuple[float, float]]:
    rows = reader_for(worker).query(OUTCOME_ROWS, {"metrics": list(OUTCOME_METRICS)}).rows
    return {(w, v, seg, metric): (num, n) for w, v, seg, metric, num, n, *_ in rows}


@pytest.mark.parametrize("join_store", ["memory", "redis"])
def test_feedback_before_and_after_its_inference_out_of_order_joins_into_exact_rates(
    deployment, start_worker, request, join_store
):
    env = {"MONITOR_SEGMENT_KEYS": '["region"]'}
    if join_store == "redis":
        env["MONITOR_REDIS_URL"] = request.getfixturevalue("clean_redis")
    worker = start_worker(**env)
    rng = np.random.default_rng(17)
    base = (int(time.time()) // WINDOW - 5) * WINDOW
    inferences = {
        f"r{i}": inference(
            f"r{i}",
            base + float(rng.uniform(0, 5 * WINDOW - 1)),
            version=str(rng.choice(["v1", "v2"])),
            prediction=str(rng.choice(["yes", "no"])),
            latency_ms=float(rng.integers(20, 900)),
            segment={"region": str(rng.choice(["eu", "us"]))},
        )
        for i in range(150)
    }
    fields_of = {
        rid: plan for rid in inferences if rng.random() < 0.8 and (plan := feedback_plan(rng))
    }
    before, after = [], []
    for rid, fields in fields_of.items():
        events = split_into_events(
            rid, fields, inferences[rid]["timestamp"] + float(rng.uniform(1, 30)), rng
        )
        when = rng.choice(["before", "after", "both"])
        if (
            when == "both" and len(events) > 1
        ):  # the first event before the inference, the others after
            before.append(events[0])
            after.extend(events[1:])
        else:
            (before if when == "before" else after).extend(events)
    orphans = [
        {
            "request_id": f"orphan{i}",
            "timestamp": base + 10.0 * i,
            "rating": 5,
            "task_completed": True,
        }
        for i in range(5)
    ]
    assert len(before) > 30 and len(after) > 30
    assert any(
        len([e for e in after if e["request_id"] == rid]) > 1 for rid in fields_of
    )  # several per request

    rng.shuffle(before)
    publish(deployment, "feedback", before + orphans[:2])
    wait_until(
        lambda: worker.metric("monitor_events_total", {"kind": "feedback"}) == len(before) + 2,
        timeout=30,
        what="the early feedback",
    )
    assert outcome_rows(worker) == {}  # nothing to join yet
    shuffled = list(inferences.values())
    rng.shuffle(shuffled)  # event times out of order, within the allowed lateness
    publish(deployment, "inference", shuffled)
    wait_until(
        lambda: worker.metric("monitor_events_total", {"kind": "inference"}) == len(inferences),
        timeout=30,
        what="the inferences",
    )
    rng.shuffle(after)
    publish(deployment, "feedback", after + orphans[2:])

    expected = expected_outcomes(inferences, fields_of)
    wait_until(lambda: outcome_rows(worker) == expected, timeout=30, what="the outcome windows")
    rows = reader_for(worker).query(OUTCOME_ROWS, {"metrics": list(OUTCOME_METRICS)}).rows
    assert {(w, v, seg, metric): (num, n) for w, v, seg, metric, num, n, *_ in rows} == expected
    for w, v, seg, metric, num, n, value, low, high in rows:
        assert value == pytest.approx(num / n)
        if metric in PROPORTIONS:
            rate = wilson_interval(num, n)
            assert (low, high) == (
                pytest.approx(rate.low, abs=1e-12),
                pytest.approx(rate.high, abs=1e-12),
            )
        else:
            assert low is None and high is None
    assert {row[1] for row in rows} == {"v1", "v2"} and {row[2] for row in rows} == {
        "",
        "region=eu",
        "region=us",
    }
    assert len({row[0] for row in rows}) == 5


# -- 2. orphan feedback expires into a counter -------------------------------------------------------------


def test_feedback_that_never_finds_its_inference_expires_into_a_counter(
    deployment, start_worker, clean_redis
):
    ttl = {"MONITOR_JOIN_TTL": "3s", "MONITOR_JOIN_EXPIRY_INTERVAL": "2"}
    memory = start_worker("memory", MONITOR_APP_ID=f"{deployment.prefix}-memory", **ttl)
    redis_worker = start_worker(
        "redis", MONITOR_APP_ID=f"{deployment.prefix}-redis", MONITOR_REDIS_URL=clean_redis, **ttl
    )
    now = time.time()
    matched = [inference(f"m{i}", now - 20 + i, prediction="yes") for i in range(12)]
    lonely = [
        inference(f"l{i}", now - 20 + i) for i in range(4)
    ]  # inferences nobody gives feedback on
    feedback = [
        {"request_id": f"m{i}", "timestamp": now - 10 + i, "label": "yes"} for i in range(12)
    ]
    orphans = [
        {"request_id": f"o{i // 2}", "timestamp": now - 10 + i, "rating": 1 + i % 5}
        for i in range(9)
    ]
    publish(deployment, "inference", matched + lonely)
    publish(deployment, "feedback", feedback + orphans)
    for worker in (memory, redis_worker):
        wait_until(
            lambda w=worker: (
                w.metric("monitor_events_total", {"kind": "feedback"}) == len(feedback + orphans)
            ),
            timeout=30,
            what="the feedback",
        )
        wait_until(
            lambda w=worker: store_sum(w, "accuracy") == len(matched),
            timeout=30,
            what="the joined feedback",
        )

    # expiry sweeps every MONITOR_JOIN_EXPIRY_INTERVAL: the first sweep after the TTL counts the orphans
    for worker in (memory, redis_worker):
        wait_until(
            lambda w=worker: w.metric("monitor_join_expired_total", {"kind": "feedback"}) > 0,
            timeout=30,
            what="a join expiry round",
        )
        assert worker.metric("monitor_join_expired_total", {"kind": "feedback"}) == len(orphans)
        assert worker.metric("monitor_join_expired_total", {"kind": "inference"}) == len(lonely)
        assert worker.metric("monitor_join_pending", {"kind": "feedback"}) == 0
        assert worker.metric("monitor_join_pending", {"kind": "inference"}) == 0
        assert store_sum(worker, "satisfaction") == 0  # the orphans' ratings never became outcomes


# -- 3. restarts keep pending joins and detector state -----------------------------------------------------

N_REQUESTS = 1600
SWITCH = 500  # per feedback partition: error rate 0.05 before this index, 0.5 from it
STOP_AT, KILL_AT = 200, 450  # per feedback partition: the graceful stop, then the kill -9
DETECTIONS = (
    "SELECT model, model_version, stream, detector, src_partition, src_topic, position, mean_before, mean_after "
    "FROM monitor.detector_events FINAL ORDER BY stream, detector, src_partition, position"
)
WINDOW_ROWS = (
    "SELECT window_start, model, model_version, metric, segment, round(value, 9), count, numerator "
    "FROM monitor.metric_windows FINAL ORDER BY window_start, model, model_version, metric, segment"
)


def error_switch_stream(partitions: int) -> tuple[list[dict], list[tuple[int, dict]]]:
    """Inferences in time order and their feedback with the index of each in its feedback partition."""
    rng = np.random.default_rng(23)
    start = (int(time.time()) // WINDOW - 8) * WINDOW
    inferences, feedback = [], []
    index_in_partition = defaultdict(int)
    for i in range(N_REQUESTS):
        rid = f"q{i}"
        prediction = str(rng.choice(["a", "b"]))
        inferences.append(
            inference(
                rid,
                start + 7 * WINDOW * i / N_REQUESTS,
                prediction=prediction,
                latency_ms=float(rng.integers(50, 900)),
            )
        )
        k = index_in_partition[partition_for(rid, partitions)]
        index_in_partition[partition_for(rid, partitions)] += 1
        wrong = rng.random() < (0.05 if k < SWITCH else 0.5)
        label = {"a": "b", "b": "a"}[prediction] if wrong else prediction
        feedback.append(
            (
                k,
                {
                    "request_id": rid,
                    "timestamp": inferences[-1]["timestamp"] + 5,
                    "label": label,
                    "task_completed": bool(rng.random() < 0.8),
                },
            )
        )
    assert min(index_in_partition.values()) > SWITCH + 200
    return inferences, feedback


def test_restarts_keep_pending_joins_and_detector_state(deployment, start_worker, clean_redis):
    common = {"MONITOR_REDIS_URL": clean_redis, "MONITOR_BATCH_SIZE": "50"}
    # commits far apart: after the kill the worker replays what it had written and must skip it
    restarting_env = {
        **common,
        "MONITOR_COMMIT_INTERVAL": "600",
        "MONITOR_COMMIT_EVERY": "100000000",
    }
    restarting = start_worker("restarting", **restarting_env)
    clean = start_worker("clean", MONITOR_APP_ID=f"{deployment.prefix}-clean", **common)
    inferences, feedback = error_switch_stream(deployment.partitions)

    def publish_feedback(low: int, high: int) -> int:
        publish(
            deployment, "feedback", [fb for k, fb in feedback if low <= k < high], batch_size=20
        )
        return sum(k < high for k, _ in feedback)

    def wait_joined(workers, n: int) -> None:
        for worker in workers:
            wait_until(
                lambda w=worker: store_sum(w, "accuracy") == n,
                timeout=60,
                what=f"{n} joined outcomes",
            )

    publish(deployment, "inference", inferences, batch_size=20)
    for worker in (
        restarting,
        clean,
    ):  # every inference waits in the join store before any feedback
        wait_until(
            lambda w=worker: store_sum(w, "inference_events") == N_REQUESTS,
            timeout=60,
            what="the inferences",
        )
    wait_joined((restarting, clean), publish_feedback(0, STOP_AT))

    assert restarting.stop() == 0
    restarting = start_worker("restarting", **restarting_env)
    wait_joined((restarting, clean), publish_feedback(STOP_AT, KILL_AT))
    assert (
        restarting.metric("monitor_events_total", {"kind": "feedback"}) > 0
    )  # the new process joined them

    restarting.kill()
    restarting = start_worker("restarting", **restarting_env)
    wait_joined((restarting, clean), publish_feedback(KILL_AT, N_REQUESTS))
    assert (
        restarting.metric("monitor_replayed_messages_skipped_total") > 0
    )  # the replay really happened

    # No detection lost or repeated: the same detections as the clean run, once both detector
    # agents have fed every value (one may be behind the other on a loaded machine, and both may
    # agree before either reached the switch: the clean run's switch detection says it got there).
    # Their positions may move a little: both partitions' values meet in arrival order, which
    # differs between the two runs.
    # One detector set sees both partitions' errors, the switch near position partitions x SWITCH.
    switch = deployment.partitions * SWITCH
    found_by: dict[str, list] = {}

    def at_switch(rows: list) -> list:
        return [d[6] for d in rows if d[2:4] == ("error", "adwin") and d[6] >= switch - 50]

    def same_detections() -> bool:
        found_by["restarting"] = reader_for(restarting).query(DETECTIONS).rows
        found_by["clean"] = reader_for(clean).query(DETECTIONS).rows
        same = [d[2:4] for d in found_by["restarting"]] == [d[2:4] for d in found_by["clean"]]
        return same and bool(at_switch(found_by["clean"]))

    try:
        wait_until(same_detections, timeout=30, what="the same detections in both runs")
    except AssertionError:
        pass  # the assertion below shows them
    detections, clean_detections = found_by["restarting"], found_by["clean"]
    assert [d[2:4] for d in detections] == [d[2:4] for d in clean_detections], (
        [d[6:] for d in detections],
        [d[6:] for d in clean_detections],
    )
    assert all(abs(a[6] - b[6]) <= 64 for a, b in zip(detections, clean_detections)), (
        detections,
        clean_detections,
    )
    # The switch was found after the restarts, from restored state.
    found = at_switch(detections)
    assert found and found[0] < switch + 150, [
        d for d in detections if d[2:4] == ("error", "adwin")
    ]
    assert {d[4] for d in detections} == {0}  # version-wide, not per source partition
    assert (
        reader_for(restarting).query(WINDOW_ROWS).rows == reader_for(clean).query(WINDOW_ROWS).rows
    )


# -- 4. a producer's resends count once ----------------------------------------------------------------------


@pytest.mark.parametrize("join_store", ["memory", "redis"])
def test_resent_inferences_count_once_across_batches_and_a_restart(
    deployment, start_worker, request, join_store
):
    """A producer that retried sends again: the first event counts, the resends (same request id,
    model and version, another latency) only in the resent counts; with Redis, a new worker process
    still knows them."""
    env = {"MONITOR_BATCH_SIZE": "10"}
    if join_store == "redis":
        env["MONITOR_REDIS_URL"] = request.getfixturevalue("clean_redis")
    worker = start_worker(**env)
    base = (int(time.time()) // WINDOW - 2) * WINDOW
    first = [inference(f"r{i}", base + i, latency_ms=100.0) for i in range(20)]
    retries = [{**event, "latency_ms": 5000.0} for event in first[:6]]
    publish(deployment, "inference", first)
    publish(
        deployment, "inference", retries[:3] + [inference("fresh", base + 30, latency_ms=100.0)]
    )
    publish(deployment, "feedback", [{"request_id": "r1", "timestamp": base + 40, "rating": 5}])
    wait_until(
        lambda: worker.metric("monitor_resent_events_total", {"kind": "inference"}) == 3,
        timeout=30,
        what="the resends",
    )
    wait_until(lambda: store_sum(worker, "rating") == 1, timeout=30, what="the rating")
    if join_store == "redis":  # a new process: what it knows of earlier events is in Redis
        assert worker.stop() == 0
        worker = start_worker(**env)
    publish(deployment, "inference", retries[3:])
    wait_until(
        lambda: store_sum(worker, "resent_inference_events") == 6,
        timeout=30,
        what="the later resends",
    )
    assert store_sum(worker, "inference_events") == 21
    mean_latency = reader_for(worker).query(
        "SELECT sum(value * count) / sum(count) FROM monitor.metric_windows FINAL "
        "WHERE metric = 'latency_ms' AND segment = ''"
    )
    assert mean_latency.rows[0][0] == pytest.approx(100.0)  # no resend's 5000 ms in it
    assert store_sum(worker, "rating") == 1
