"""``monitor bench`` through the real broker: a small run, checked for shape, never for speed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import pytest
from tests_support import kill_brokers_on, monitor_cli

from monitor.adapters.local_broker import LocalBroker, wait_for_port
from monitor.contract.fields import MAX_RECORD_BYTES
from monitor.tools.bench import CONSUMERS, format_table, run_bench
from monitor.tools.bench_data import CASES, bench_events
from monitor.tools.cli_bench import (
    LARGEST_BENCH_EVENT_BYTES,
    MAX_BENCH_BATCH,
    MAX_BENCH_EVENTS,
    MAX_BENCH_REPEAT,
)
from monitor.tools.cli_options import setting_range


def test_bench_events_carry_the_case_features_and_recent_times() -> None:
    events = bench_events(CASES["drift"], 50, now=1767225600.0)
    features = events[0]["features"]
    assert sum(isinstance(v, float) for v in features.values()) == 20
    assert sum(isinstance(v, str) for v in features.values()) == 5
    times = [e["timestamp"] for e in events]
    assert times == sorted(times) and 1767225600.0 - 180 <= times[0] and times[-1] < 1767225600.0
    assert len({e["request_id"] for e in events}) == 50


def test_small_bench_reports_three_rates_and_consistent_ratios(
    broker: LocalBroker, tmp_path: Path
) -> None:
    """One run of each consumer over each backlog (each run its own consumer group and store):
    every run reads every event. Repeated runs are checked on their results below (a run costs
    about 10 s of start-up and group joins, not of reading)."""
    lines: list[str] = []
    output = tmp_path / "bench.json"
    code = run_bench(
        events=2000,
        batch=50,
        output=output,
        bootstrap=broker.bootstrap,
        echo=lines.append,
        latency=False,
    )

    assert code == 0
    report = json.loads(output.read_text())
    assert report["events"] == 2000 and report["machine"]["cpus"] >= 1
    results = report["results"]
    assert [(r["case"], r["events_per_message"]) for r in results] == [
        ("standard", 1),
        ("standard", 50),
    ]
    assert results[0]["messages"] == 2000
    assert 40 <= results[1]["messages"] < 2000 / 25  # batches split per partition: not all full
    for r in results:
        assert 400 <= r["event_bytes"] <= 650
        assert set(r["rates"]) == set(CONSUMERS) and all(rate > 0 for rate in r["rates"].values())
        for consumer in CONSUMERS:
            assert abs(r["rates"][consumer] * r["seconds"][consumer] - 2000) <= 0.01 * 2000
            assert r["runs"][consumer] == [r["rates"][consumer]] == [r["medians"][consumer]]
        rates = r["rates"]
        assert abs(r["ratios"]["worker/bare_faust"] - rates["worker"] / rates["bare_faust"]) < 0.01
        assert (
            abs(r["ratios"]["worker/bare_aiokafka"] - rates["worker"] / rates["bare_aiokafka"])
            < 0.01
        )
    assert report["repeat"] == 1 and "run 1 of" not in "\n".join(lines)
    assert "worker/faust" in "\n".join(lines) and "the best of" not in "\n".join(lines)


def test_repeated_runs_report_the_best_their_median_and_every_run() -> None:
    from monitor.tools.bench_bare import Measurement
    from monitor.tools.bench_results import ShapeResult

    runs = {"worker": [2.0, 4.0, 1.0], "bare_faust": [0.5, 0.25, 0.4], "bare_aiokafka": [0.1] * 3}
    measurements = tuple(
        Measurement(consumer, 1000, seconds[i])
        for i in range(3)
        for consumer, seconds in runs.items()
    )
    out = ShapeResult("standard", 100, 1000, 10, 520.0, measurements).to_dict()

    assert out["runs"] == {
        "worker": [500.0, 250.0, 1000.0],
        "bare_faust": [2000.0, 4000.0, 2500.0],
        "bare_aiokafka": [10000.0] * 3,
    }
    assert out["rates"] == {"worker": 1000.0, "bare_faust": 4000.0, "bare_aiokafka": 10000.0}
    assert out["medians"] == {"worker": 500.0, "bare_faust": 2500.0, "bare_aiokafka": 10000.0}
    assert out["seconds"]["worker"] == 1.0 and out["ratios"]["worker/bare_faust"] == 0.25


def test_table_has_one_row_per_case_and_shape() -> None:
    from monitor.tools.bench import ShapeResult
    from monitor.tools.bench_bare import Measurement

    result = ShapeResult(
        "standard",
        100,
        1000,
        10,
        520.0,
        (
            Measurement("worker", 1000, 1.0),
            Measurement("bare_faust", 1000, 0.5),
            Measurement("bare_aiokafka", 1000, 0.1),
        ),
    )
    assert result.ratios == {"worker/bare_faust": 0.5, "worker/bare_aiokafka": 0.1}
    assert format_table([result]).splitlines()[-1].split() == [
        "standard",
        "100",
        "1,000",
        "2,000",
        "10,000",
        "0.50",
        "0.10",
    ]


def test_alert_latency_is_timed_from_the_window_close_to_the_webhook(
    broker: LocalBroker, tmp_path: Path
) -> None:
    from monitor.tools.bench_latency import LATENESS, REFRESH, WINDOW, measure_alert_latency

    lines: list[str] = []
    result = measure_alert_latency(broker.bootstrap, tmp_path, lines.append, measured=1)
    assert result.windows == 1
    # the alert comes after the window closed (never before); how long after is the bench's figure,
    # not asserted here (the bound is the bench's own wait for it)
    assert 0 < result.after_close_median == result.after_close_max < 10 * REFRESH + 5
    assert result.after_last_event_median > LATENESS
    assert f"window {WINDOW} s" in result.describe() and lines


def test_in_process_bench_counts_every_event_after_the_first_batch(tmp_path) -> None:
    """``monitor bench --in-process`` as a user runs it (its own process: chdb opens one directory
    per process): every event after each shape's first batch is counted and every event is written
    once. A deployment's Redis is never touched (the URL below refuses connections: using it would
    fail)."""
    output = tmp_path / "in-process.json"
    done = monitor_cli(
        "bench", "--in-process", "--events", "4000", "--batch", "10", "--output", str(output),
        env={"MONITOR_REDIS_URL": "redis://127.0.0.1:1/0"},
    )  # fmt: skip
    assert "CPU us/event" in done.stdout
    results = orjson.loads(output.read_bytes())
    assert [(r["events_per_message"], r["events"], r["written"]) for r in results] == [
        (1, 4000 - 1000, 4000),
        (10, 4000 - 2000, 4000),
    ]
    assert all(r["rate"] > 0 and r["cpu_us_per_event"] > 0 for r in results)
    # the batch thread's CPU is part of the process's (chdb's threads are the rest)
    assert all(0 < r["thread_us_per_event"] <= r["cpu_us_per_event"] * 1.01 for r in results)
    assert "thread us/event" in done.stdout


def test_in_process_bench_measures_the_redis_join_store_and_leaves_no_key(
    tmp_path, redis_url: str
) -> None:
    """``--join-store redis``: the batch steps join through MONITOR_REDIS_URL's Redis, under an app
    id of the bench's own, and every key the run wrote is gone afterwards."""
    import redis

    client = redis.Redis.from_url(redis_url)
    output = tmp_path / "in-process.json"
    done = monitor_cli(
        "bench", "--in-process", "--join-store", "redis", "--events", "4000", "--batch", "10",
        "--output", str(output), env={"MONITOR_REDIS_URL": redis_url},
    )  # fmt: skip
    results = orjson.loads(output.read_bytes())
    assert [(r["join_store"], r["events"], r["written"]) for r in results] == [
        ("redis", 4000 - 1000, 4000),
        ("redis", 4000 - 2000, 4000),
    ]
    assert "standard  redis" in done.stdout
    assert list(client.scan_iter(match="monitor-bench-*", count=10_000)) == []


def test_the_redis_join_store_bench_needs_redis_and_the_in_process_run() -> None:
    done = monitor_cli(
        "bench", "--in-process", "--join-store", "redis", "--events", "4000",
        env={"MONITOR_REDIS_URL": ""}, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "--join-store redis measures MONITOR_REDIS_URL" in done.stderr
    done = monitor_cli("bench", "--join-store", "redis", env={}, check=False)
    assert done.returncode == 2 and "--join-store applies to --in-process" in done.stderr
    done = monitor_cli(
        "bench", "--in-process", "--join-store", "disk", "--events", "4000", env={}, check=False
    )
    assert done.returncode == 2 and "--join-store 'disk' is not one of memory, redis" in done.stderr


def test_repeat_is_refused_where_it_would_be_ignored() -> None:
    done = monitor_cli("bench", "--in-process", "--repeat", "3", env={}, check=False)
    assert done.returncode == 2 and "--repeat applies to the broker runs only" in done.stderr


BENCH_BOUNDS = {
    "--events": MAX_BENCH_EVENTS,
    "--batch": MAX_BENCH_BATCH,
    "--partitions": setting_range("partitions")["max"],
    "--repeat": MAX_BENCH_REPEAT,
}


@pytest.mark.parametrize("option", BENCH_BOUNDS)
@pytest.mark.parametrize("too_far", ["below", "above"])
def test_bench_refuses_a_count_out_of_its_bounds_before_anything_starts(
    option: str, too_far: str
) -> None:
    """Before: 0 or -1 was an error naming every count at once, 10**12 events ran until memory ran
    out, 10**12 repeats for ever (the broker below refuses connections: the old code stopped there)."""
    value = "0" if too_far == "below" else str(BENCH_BOUNDS[option] + 1)
    done = monitor_cli(
        "bench", option, value, env={"MONITOR_KAFKA_BOOTSTRAP": "127.0.0.1:1"}, check=False
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        f"error: {option} {value!r}: expected an integer >= 1 and <= {BENCH_BOUNDS[option]}"
    ]
    assert done.stdout == ""  # no local broker, no bench started


def test_bench_help_shows_the_bounds_of_its_counts() -> None:
    shown = monitor_cli("bench", "--help", env={"COLUMNS": "200"}).stdout
    for option, most in BENCH_BOUNDS.items():
        assert re.search(rf"{option} +<int range> +\[1<=x<={most}\]", shown), option


def test_bench_help_states_the_in_process_minimum_the_run_enforces() -> None:
    """Before: --help showed only [1<=x<=1000000] for --events, and `--in-process --events 5000`
    was refused with 'at least 40,000'."""
    shown = monitor_cli("bench", "--help", env={"COLUMNS": "250"}).stdout
    refused = monitor_cli("bench", "--in-process", "--events", "5000", env={}, check=False)
    least = re.search(
        r"too few for --in-process: at least ([\d,]+) with --batch 100", refused.stderr
    )
    assert refused.returncode == 2 and least, refused.stderr
    events = next(line for line in shown.splitlines() if "--events" in line)
    assert (
        f"with --in-process at least 400 × --batch and 2,000 ({least[1]} at the default --batch)"
    ) in events, events


def test_a_message_of_the_largest_bench_batch_fits_in_a_record() -> None:
    """The bound of --batch holds for the case with the largest events."""
    events = bench_events(CASES["drift"], MAX_BENCH_BATCH, now=1767225600.0)
    assert max(len(orjson.dumps(e)) for e in events) <= LARGEST_BENCH_EVENT_BYTES
    assert len(orjson.dumps(events)) <= MAX_RECORD_BYTES


def test_bench_stops_its_local_broker_when_it_fails_after_starting_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Output to a closed pipe (``monitor bench | head -0``) fails the bench at its first line, the
    one announcing its local broker: the broker is stopped all the same."""
    monkeypatch.delenv("MONITOR_KAFKA_BOOTSTRAP", raising=False)
    said: list[str] = []

    def closed_pipe(text: str) -> None:
        said.append(text)
        raise BrokenPipeError(32, "Broken pipe")

    with pytest.raises(BrokenPipeError):
        run_bench(events=10, batch=5, echo=closed_pipe, latency=False)
    assert said and said[0].startswith("local broker (Tansu, memory storage) on 127.0.0.1:")
    port = int(said[0].rsplit(":", 1)[1])
    assert kill_brokers_on(port) == []
    assert not wait_for_port("127.0.0.1", port, 0.5)
