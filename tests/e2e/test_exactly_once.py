"""kill -9 in the middle of a stream, restart: the same aggregates as a clean run.

Pending joins live in Redis here, so outcome rates survive the crash too. The stream is also an A/B
experiment and a shadow comparison: its experiment_results and shadow partials equal those of the clean run."""

from __future__ import annotations

import asyncio
import time

import numpy as np
from tests_support import inference, reader_for, wait_until

from monitor.adapters.producer import EventProducer
from monitor.settings import Settings

# Experiment results from sums of integers (exact in float64 whatever the batch boundaries)
EXPERIMENT_ROWS = (
    "SELECT experiment, metric, segment, n_control, n_treatment, diff, p_value, srm_p_value, decision "
    "FROM monitor.experiment_results FINAL ORDER BY experiment, metric, segment"
)
# Shadow pairs and traffic (similarity sums are floats: rounded)
SHADOW_ROWS = (
    "SELECT model, model_version, name, bucket, sum(count), round(sum(total), 6) FROM monitor.partials "
    "WHERE startsWith(name, 'shadow:') GROUP BY model, model_version, name, bucket ORDER BY 1, 2, 3, 4"
)
REFRESH_SECONDS = Settings.model_fields["refresh_interval"].default  # the workers here keep it
WINDOW_ROWS = (
    "SELECT window_start, model, model_version, metric, value, count FROM monitor.metric_windows FINAL "
    "ORDER BY window_start, model, model_version, metric"
)


def publish_stream(bootstrap: str, topics: dict[str, str], n: int) -> int:
    """``n`` inferences over ten minutes of event time and feedback for a third; small messages."""
    rng = np.random.default_rng(3)
    start = time.time() - 600
    versions = rng.integers(1, 3, n)
    events = [
        inference(
            f"r{i}",
            start + 600 * i / n,
            version=f"v{versions[i]}",
            latency_ms=float(rng.integers(50, 900)),
            experiment="ab",
            variant=f"v{versions[i]}",
        )
        for i in range(n)
    ]
    # every fourth request mirrored to a shadow candidate (integer latencies: exact sums whatever the batching)
    shadows = [
        inference(
            f"r{i}",
            start + 600 * i / n + 0.01,
            version="v3",
            deployment="shadow",
            latency_ms=float(rng.integers(50, 900)),
            output_text=f"answer {i % 7}",
        )
        for i in range(0, n, 4)
    ]
    events = [
        {**e, "output_text": f"answer {i % 5}"} if i % 4 == 0 else e for i, e in enumerate(events)
    ]
    mixed = [
        e for i, e in enumerate(events) for e in ((e, shadows[i // 4]) if i % 4 == 0 else (e,))
    ]
    feedback = [
        {
            "request_id": f"r{i}",
            "timestamp": start + 600 * i / n + 1,
            "rating": int(rng.integers(1, 6)),
            "task_completed": bool(rng.random() < 0.5 + 0.1 * (versions[i] == 2)),
            "kpi": {"revenue": float(rng.integers(0, 100))},
        }
        for i in range(0, n, 3)
    ]

    async def send() -> None:
        async with EventProducer(bootstrap, topics=topics, batch_size=5) as producer:
            for chunk in range(0, len(mixed), 2000):
                await producer.send("inference", mixed[chunk : chunk + 2000])
            await producer.send("feedback", feedback)

    asyncio.run(send())
    _published[:] = events
    _rated[:] = [fb["request_id"] for fb in feedback]
    return len(events) + len(feedback)


_published: list[dict] = []
_rated: list[str] = []  # every feedback event carries a rating


def total_events(worker) -> float:
    return worker.metric("monitor_events_total")


def test_kill_9_then_restart_gives_the_same_windows_as_a_clean_run(
    deployment, start_worker, redis_url
):
    total = publish_stream(deployment.broker.bootstrap, deployment.topics, 20_000)
    # Commits far apart: the restarted worker replays from the start and must skip what is stored.
    crashing = start_worker(
        "crash",
        MONITOR_REDIS_URL=redis_url,
        MONITOR_COMMIT_INTERVAL="600",
        MONITOR_COMMIT_EVERY="100000000",
        MONITOR_BATCH_SIZE="100",
    )
    wait_until(
        lambda: total_events(crashing) > total * 0.2, what="a fifth of the stream", timeout=120
    )
    processed_at_kill = total_events(crashing)
    crashing.kill()
    assert processed_at_kill < total, "the worker finished before it could be killed mid-stream"

    restarted = start_worker(
        "crash",
        MONITOR_REDIS_URL=redis_url,
        MONITOR_COMMIT_INTERVAL="600",
        MONITOR_COMMIT_EVERY="100000000",
        MONITOR_BATCH_SIZE="100",
    )
    wait_until(
        lambda: (
            restarted.metric("monitor_events_total")
            + restarted.metric("monitor_replayed_messages_skipped_total")
            > 0
            and _sum_events(restarted) == total
        ),
        what="the restarted worker to finish",
        timeout=180,
        state=lambda: _progress(restarted, total),
    )
    assert (
        restarted.metric("monitor_replayed_messages_skipped_total") > 0
    )  # the replay really happened
    assert restarted.metric("monitor_offset_resets_total") == 0  # a replay, not a new log
    _wait_for_experiment_results(restarted)
    after_crash = _settled_rows(restarted, WINDOW_ROWS)
    experiments_after_crash = reader_for(restarted).query(EXPERIMENT_ROWS).rows
    shadow_after_crash = reader_for(restarted).query(SHADOW_ROWS).rows
    restarted.stop()

    clean = start_worker(
        "clean", MONITOR_APP_ID=f"{deployment.prefix}-clean", MONITOR_REDIS_URL=redis_url
    )
    wait_until(
        lambda: _sum_events(clean) == total,
        what="the clean run",
        timeout=180,
        state=lambda: _progress(clean, total),
    )
    _wait_for_experiment_results(clean)
    clean_rows = _settled_rows(clean, WINDOW_ROWS)
    assert len(clean_rows) > 10
    assert after_crash == clean_rows
    clean_experiments = reader_for(clean).query(EXPERIMENT_ROWS).rows
    assert len(clean_experiments) >= 6 and {r[1] for r in clean_experiments} >= {
        "task_completion",
        "kpi.revenue",
    }
    assert next(tuple(r) for r in clean_experiments if r[1] == "")[3:5] == (
        sum(e["variant"] == "v1" for e in _published),
        sum(e["variant"] == "v2" for e in _published),
    )
    assert experiments_after_crash == clean_experiments
    clean_shadow = reader_for(clean).query(SHADOW_ROWS).rows
    pairs = (
        next(r for r in clean_shadow if r[2] == "shadow:pairs" and r[1] == "v1")[4]
        + next(r for r in clean_shadow if r[2] == "shadow:pairs" and r[1] == "v2")[4]
    )
    assert pairs == 5000 and shadow_after_crash == clean_shadow


def _sum_events(worker) -> float:
    rows = (
        reader_for(worker)
        .query(
            "SELECT sum(value) FROM monitor.metric_windows FINAL WHERE metric IN ('inference_events', 'feedback_events')"
        )
        .rows
    )
    return float(rows[0][0] or 0)


def _progress(worker, total: int) -> str:
    if not worker.alive():
        return f"the worker exited with {worker.process.returncode}"
    return (
        f"{_sum_events(worker):.0f} of {total} events in the windows; the worker counted "
        f"{worker.metric('monitor_events_total'):.0f} events and skipped "
        f"{worker.metric('monitor_replayed_messages_skipped_total'):.0f} replayed messages, "
        f"{worker.metric('monitor_offset_resets_total'):.0f} offset resets"
    )


def _settled_rows(worker, query: str) -> list:
    """The rows of ``query`` once two reads more than a window refresh apart agree: the counts can
    be whole while the refresh that merges a window's last partials is still to come."""
    reader = reader_for(worker)
    reads: list[list] = [reader.query(query).rows]

    def unchanged() -> bool:
        time.sleep(REFRESH_SECONDS + 0.5)
        reads.append(reader.query(query).rows)
        return reads[-1] == reads[-2]

    wait_until(unchanged, what="the windows to stop changing", timeout=60)
    return reads[-1]


def _wait_for_experiment_results(worker) -> None:
    """The leader's experiment refresh runs after the windows are written (slower on a loaded
    machine): wait until its satisfaction row counts every rating of the stream."""

    def rated() -> float:
        rows = (
            reader_for(worker)
            .query(
                "SELECT n_control + n_treatment FROM monitor.experiment_results FINAL "
                "WHERE metric = 'satisfaction' AND segment = ''"
            )
            .rows
        )
        return float(rows[0][0]) if rows else 0.0

    wait_until(lambda: rated() == len(_rated), what="the experiment results", timeout=60)
