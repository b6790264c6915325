"""``monitor query metrics`` lists the catalogue's metrics and the segments a user can pass, not
the embedding-drift sums (``emb:phi`` ...) the worker keeps in ``metric_windows`` per baseline
bucket."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.schema import OUTCOME_PREFIX
from monitor.catalogue import METRIC_WINDOW_NAMES
from monitor.drift.embeddings import PHI, SQUARES, SUMS
from monitor.drift.windows import EVENTS_NAME
from monitor.folding.partials import Partial
from monitor.tools.cli import app

W = 60
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def new_store(chdb_dir: Path) -> ClickHouseStore:
    """A store whose windows went through the worker's path (partials, then metric_windows):
    events and satisfaction per segment, and one baseline's embedding sums."""
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=q_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()

    def part(name: str, bucket: str, count: float, total: float) -> Partial:
        return Partial(T0, W, "assistant", "v1", name, bucket, count, total, T0 + 1)

    partials = [
        part(name, segment, 10.0, total)
        for segment in ("", "region=eu")
        for name, total in ((EVENTS_NAME, 10.0), (OUTCOME_PREFIX + "satisfaction", 8.0))
    ]
    partials += [part(PHI, f"b1a2:{j}", 4.0, 0.5) for j in range(3)]
    partials += [part(SUMS, f"b1a2:{j}", 4.0, 0.25) for j in range(3)]
    partials.append(part(SQUARES, "b1a2", 4.0, 2.0))
    store.write_batch({("inference", 0): (0, T0 + 1, partials)})
    store.refresh_metric_windows(0.0)
    return store


@pytest.fixture(scope="module")
def store_env(chdb_dir: Path) -> Iterator[dict[str, str]]:
    """:func:`new_store`, with the embedding sums' rows an earlier version wrote into
    metric_windows (this one writes none)."""
    store = new_store(chdb_dir)
    store.command(
        f"INSERT INTO {store.table('metric_windows')} (window_start, window_end, model, "
        "model_version, metric, segment, value, count, numerator, updated_at) SELECT window_start, "
        "window_start + 60, model, model_version, name, bucket, total / count, count, total, "
        f"now64(3) FROM {store.table('partials')} WHERE startsWith(name, 'emb:')"
    )
    yield {"MONITOR_CLICKHOUSE_URL": f"chdb://{chdb_dir}?database={store.db}"}
    store.command(f"DROP DATABASE IF EXISTS {store.db}")


def cli(env: dict[str, str], *args: str):
    return CliRunner().invoke(app, list(args), env=env)


def test_metrics_without_a_metric_lists_the_catalogues_metrics_only(store_env) -> None:
    result = cli(store_env, "query", "metrics", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert sorted({(r["metric"], r["segment"]) for r in rows}) == [
        ("inference_events", ""),
        ("inference_events", "region=eu"),
        ("satisfaction", ""),
        ("satisfaction", "region=eu"),
    ]
    assert {r["metric"] for r in rows} <= set(METRIC_WINDOW_NAMES)
    internal = cli(store_env, "query", "metrics", "--metric", PHI)  # nor asked for by name
    assert internal.exit_code == 2, internal.output
    assert f"--metric '{PHI}' is not a known metric; known: accuracy, " in internal.stderr


@pytest.mark.parametrize("command", [["query", "metrics"], ["query", "drift"], ["alerts"]])
def test_a_limit_past_a_billion_is_a_usage_error_naming_limit(store_env, command) -> None:
    huge = cli(store_env, *command, "--limit", "1" + "0" * 400)  # reached the store as bad SQL
    assert huge.exit_code == 2, huge.output
    assert huge.stderr.splitlines() == [
        f"error: --limit '1{'0' * 400}': expected an integer >= 1 and <= 1000000000"
    ]
    assert "ClickHouse" not in huge.stderr
    most = cli(store_env, *command, "--limit", "1000000000", "--format", "json")
    assert most.exit_code == 0, most.output


def test_no_rows_still_print_the_header_in_csv_and_table(store_env) -> None:
    """Before: `--format csv` of no rows printed only '\\r\\n', a table only '(0 rows)'."""
    some = cli(store_env, "query", "metrics", "--metric", "satisfaction", "--format", "csv")
    header = some.stdout.splitlines()[0]
    assert header.startswith("window_start,window_end,model,model_version,metric,"), header
    since = ("query", "metrics", "--metric", "satisfaction", "--since", "1s")
    none = cli(store_env, *since, "--format", "csv")
    assert none.exit_code == 0, none.output
    assert none.stdout.splitlines() == [header]
    table = cli(store_env, *since).stdout.splitlines()
    assert table[0].split() == header.split(",") and table[1:] == ["(0 rows)"], table


def test_an_unknown_segment_lists_the_users_segments_not_baseline_buckets(store_env) -> None:
    result = cli(store_env, "query", "metrics", "--segment", "region=us")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --segment 'region=us' is not a known segment; known: '', region=eu"
    )
    # a key the workers were never told to count: say how to count it (before: only the list)
    tenant = cli(store_env, "query", "metrics", "--segment", "tenant=acme")
    assert tenant.exit_code == 2, tenant.output
    assert tenant.stderr.strip().splitlines()[-1] == (
        "error: --segment 'tenant=acme' is not a known segment; known: '', region=eu (the workers "
        "keep rows for the segment keys in MONITOR_SEGMENT_KEYS only: start them with "
        "MONITOR_SEGMENT_KEYS='[\"tenant\"]' to count 'tenant' from then on)"
    )


def test_the_dashboards_segment_choices_are_the_users_segments(store_env) -> None:
    from monitor.adapters.reader import open_reader
    from monitor.dashboard.data import dimensions

    reader = open_reader(store_env["MONITOR_CLICKHOUSE_URL"])
    assert dimensions(reader) == [("assistant", "v1", ""), ("assistant", "v1", "region=eu")]


def test_metric_windows_are_written_for_the_catalogues_metrics_only(chdb_dir) -> None:
    """The worker's refresh writes no row for its internal partials (about 2,000 embedding sums
    a window, one per baseline bucket, before): what the listing hides is not written at all."""
    store = new_store(chdb_dir)
    rows = store.query(
        f"SELECT DISTINCT metric, segment FROM {store.table('metric_windows')} FINAL ORDER BY 1, 2"
    ).rows
    assert [tuple(r) for r in rows] == [
        ("inference_events", ""),
        ("inference_events", "region=eu"),
        ("satisfaction", ""),
        ("satisfaction", "region=eu"),
    ]


@pytest.mark.parametrize("command", [["query", "metrics"], ["alerts"]])
def test_no_store_here_says_the_default_store_is_found_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """Before: 'no embedded store at /x/.monitor-data/clickhouse: start `monitor worker` (or
    `monitor demo`) first', while a worker ran from another directory with its store there."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, command, env={"MONITOR_CLICKHOUSE_URL": None})
    assert result.exit_code == 2, result.output
    expected = (
        f"error: no embedded store at {tmp_path.resolve()}/.monitor-data/clickhouse: "
        "MONITOR_CLICKHOUSE_URL (default chdb://.monitor-data/clickhouse) is relative to the "
        "current directory: run this in the worker's directory, or set "
        "MONITOR_CLICKHOUSE_URL=chdb://<the worker's directory>/.monitor-data/clickhouse; no "
        "worker yet? start `monitor worker` (or `monitor demo`) first"
    )
    assert result.stderr.splitlines() == [expected]
    assert not (tmp_path / ".monitor-data").exists()  # looked for, not created
