"""Input drift end to end: a shifted numeric and categorical feature, one worker versus two."""

from __future__ import annotations

import asyncio
import time

import numpy as np
from tests_support import build_baseline, reader_for, wait_until

from monitor.adapters.producer import EventProducer

WINDOW = 60
N_WINDOWS = 12
PER_WINDOW = 600
FEATURES = ("x1", "x2", "x3", "c1", "c2")
DRIFT_ROWS = (
    "SELECT toString(window_start), feature, round(psi, 9), round(kl, 9), round(js, 9), n_current, "
    "n_reference, severity FROM monitor.drift_windows FINAL ORDER BY window_start, feature"
)


def features(rng: np.random.Generator, shifted: bool) -> dict:
    return {
        "x1": float(rng.normal(3.0 if shifted else 0.0, 1.0)),
        "x2": float(rng.normal(10.0, 2.0)),
        "x3": float(rng.exponential(5.0)),
        "c1": str(
            rng.choice(
                ["a", "b", "c", "d"], p=[0.1, 0.1, 0.1, 0.7] if shifted else [0.4, 0.3, 0.2, 0.1]
            )
        ),
        "c2": str(rng.choice(["web", "app", "voice"], p=[0.5, 0.4, 0.1])),
    }


def build_reference(tmp_path, store_url: str) -> None:
    rng = np.random.default_rng(11)
    done = build_baseline(
        tmp_path / "reference.jsonl",
        ({"features": features(rng, False)} for _ in range(3000)),
        {"MONITOR_CLICKHOUSE_URL": store_url},
        "--id",
        "ref-1",
    )
    assert "baseline ref-1" in done.stdout


def publish(deployment) -> int:
    rng = np.random.default_rng(5)
    start = (int(time.time()) // WINDOW - N_WINDOWS - 1) * WINDOW
    events = []
    for w in range(N_WINDOWS):
        for i in range(PER_WINDOW):
            events.append(
                {
                    "request_id": f"r{w}-{i}",
                    "timestamp": start + w * WINDOW + i * WINDOW / PER_WINDOW,
                    "model": "m",
                    "model_version": "v1",
                    "features": features(rng, w >= N_WINDOWS // 2),
                }
            )

    async def send() -> None:
        async with EventProducer(
            deployment.broker.bootstrap, topics=deployment.topics, batch_size=50
        ) as producer:
            await producer.send("inference", events)

    asyncio.run(send())
    return len(events)


def scored_rows(worker) -> list[tuple]:
    return reader_for(worker).query(DRIFT_ROWS).rows


def test_shifted_features_score_significant_and_two_workers_match_one(
    deployment, start_worker, tmp_path
):
    store_a, store_b = tmp_path / "one", tmp_path / "two"
    build_reference(tmp_path, f"chdb://{store_a}")
    build_reference(tmp_path, f"chdb://{store_b}")
    lateness = {"MONITOR_ALLOWED_LATENESS": "0s"}
    one = start_worker("one", MONITOR_APP_ID=f"{deployment.prefix}-one", **lateness)
    two_a = start_worker("two", MONITOR_APP_ID=f"{deployment.prefix}-two", **lateness)
    two_b = start_worker("two", MONITOR_APP_ID=f"{deployment.prefix}-two", **lateness)
    # the first worker of the pair rebalances once the second joins: publish only after that
    wait_until(
        lambda: two_a.log_path.read_bytes().count(b"Setting newly assigned partitions") >= 2,
        timeout=60,
        what="the two workers to share the partitions",
    )
    total = publish(deployment)

    closed = (N_WINDOWS - 1) * len(FEATURES)  # the newest window stays open: nothing passed it
    wait_until(
        lambda: len(scored_rows(one)) == closed, timeout=120, what="one worker's drift windows"
    )
    wait_until(
        lambda: len(scored_rows(two_a)) == closed, timeout=120, what="two workers' drift windows"
    )
    # a window closes once either partition passed it: wait for both to have folded everything
    wait_until(
        lambda: (
            two_a.metric("monitor_events_total") + two_b.metric("monitor_events_total") == total
        ),
        timeout=60,
        what="the two workers to fold every event",
    )
    assert two_a.metric("monitor_events_total") > 0 and two_b.metric("monitor_events_total") > 0
    wait_until(
        lambda: one.metric("monitor_events_total") == total,
        timeout=60,
        what="the single worker to fold every event",
    )
    # events of a window that one partition had passed are merged and its row rewritten at a later
    # refresh (every 2 s; longer on a loaded machine): the two deployments converge to equal rows
    wait_until(
        lambda: scored_rows(one) == scored_rows(two_a),
        timeout=60,
        what="one worker's drift windows to equal two workers'",
    )
    time.sleep(2)  # a last refresh round: nothing may change any more
    rows_one, rows_two = scored_rows(one), scored_rows(two_a)
    assert rows_one == rows_two

    severity = {(r[0], r[1]): r[7] for r in rows_one}
    windows = sorted({r[0] for r in rows_one})
    for window in windows[: N_WINDOWS // 2]:
        assert {severity[(window, f)] for f in FEATURES} == {"none"}, window
    for window in windows[N_WINDOWS // 2 :]:
        assert severity[(window, "x1")] == "significant"
        assert severity[(window, "c1")] == "significant"
        assert {severity[(window, f)] for f in ("x2", "x3", "c2")} == {"none"}, window
    assert one.metric("monitor_drift_severity", {"feature": "x1"}) == 2
