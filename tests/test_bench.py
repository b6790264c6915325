"""``monitor bench`` through the real broker: a small run, checked for shape, never for speed."""

from __future__ import annotations

import json
from pathlib import Path

from monitor.adapters.local_broker import LocalBroker
from monitor.tools.bench import CASES, CONSUMERS, bench_events, format_table, run_bench


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
        rates = r["rates"]
        assert abs(r["ratios"]["worker/bare_faust"] - rates["worker"] / rates["bare_faust"]) < 0.01
        assert (
            abs(r["ratios"]["worker/bare_aiokafka"] - rates["worker"] / rates["bare_aiokafka"])
            < 0.01
        )
    assert "worker/faust" in "\n".join(lines)


def test_table_has_one_row_per_case_and_shape() -> None:
    from monitor.tools.bench import Measurement, ShapeResult

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


def test_in_process_bench_counts_every_event_after_the_first_batch(tmp_path, monkeypatch) -> None:
    """The worker's batch steps alone: every event after the first batch is counted, each written
    once (the store holds them all), and the figures are positive. A deployment's Redis is never
    touched (the URL below refuses connections: using it would fail)."""
    from monitor.adapters.clickhouse_store import ClickHouseStore
    from monitor.tools.bench_inprocess import measure_in_process

    monkeypatch.setenv("MONITOR_REDIS_URL", "redis://127.0.0.1:1/0")

    result = measure_in_process("standard", 3_000, 100, 5, tmp_path)
    assert result.events == 3_000 - 500 and result.rate > 0 and result.cpu_us_per_event > 0
    store = ClickHouseStore(f"chdb://{tmp_path / 'store'}").connect()
    written = store.query(
        "SELECT sum(count) FROM monitor.partials WHERE name = 'inference_events'"
    ).rows[0][0]
    assert written == 3_000
