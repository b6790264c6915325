"""`monitor baseline build` where no embedded store exists yet says that it created one, and where:
a worker started in another directory reads a store of its own and never sees that baseline."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from tests_support import monitor_cli


def test_a_baseline_that_creates_the_embedded_store_says_where(tmp_path: Path) -> None:
    """Before: 'baseline ...: m/v1, 50 records' and nothing else, in a directory no worker used."""
    records = tmp_path / "reference.jsonl"
    records.write_bytes(b"\n".join(orjson.dumps({"features": {"x": float(i)}}) for i in range(50)))
    store = tmp_path / "elsewhere" / "clickhouse"
    env = {"MONITOR_CLICKHOUSE_URL": f"chdb://{store}"}
    args = ("baseline", "build", str(records), "--model", "m", "--version", "v1")
    first = monitor_cli(*args, env=env)
    assert "m/v1, 50 records" in first.stdout
    assert first.stderr.strip().splitlines()[-1] == (
        f"note: there was no embedded store at {store}: this created one there. Workers score "
        "drift against the baselines of their own MONITOR_CLICKHOUSE_URL: start them with this "
        "one (a worker started in another directory has a store of its own there)"
    )
    again = monitor_cli(*args, env=env)
    assert "m/v1, 50 records" in again.stdout and "note:" not in again.stderr


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--bins", "-1"),  # build_baseline's ValueError traceback
        ("--bins", "100000000"),  # ran for minutes, 10**400: numpy's 'Maximum allowed size'
        ("--top-k", "-1"),
        ("--top-k", "1001"),
    ],
)
def test_bins_and_top_k_take_the_bounds_of_their_settings(
    tmp_path: Path, option: str, value: str
) -> None:
    records = tmp_path / "reference.jsonl"
    records.write_bytes(b'{"features": {"x": 1.0, "c": "a"}}\n{"features": {"x": 2.0, "c": "b"}}')
    env = {"MONITOR_CLICKHOUSE_URL": f"chdb://{tmp_path / 'store'}"}
    args = ("baseline", "build", str(records), "--model", "m", "--version", "v1", option, value)
    done = monitor_cli(*args, env=env, check=False, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.splitlines()  # one line, never Typer's box or a traceback
    assert line.startswith(f"error: {option} {value!r}: expected an integer >= "), line
    assert not (tmp_path / "store").exists()


def test_a_file_of_several_versions_builds_each_baseline_from_its_own_records(
    tmp_path: Path,
) -> None:
    """Before: every record of the file went into the baseline, whatever model or version it named
    (`monitor simulate`'s reference holds v1 and v2), and a model the file never named got a
    baseline built from another's traffic, without a word."""
    records = tmp_path / "reference.jsonl"
    rows = [
        *({"model": "m", "model_version": "v1", "features": {"x": 1.0}} for _ in range(30)),
        *({"model": "m", "model_version": "v2", "features": {"x": 9.0}} for _ in range(20)),
        {"features": {"x": 1.0}},  # names no model or version: taken for any
    ]
    records.write_bytes(b"\n".join(map(orjson.dumps, rows)))
    env = {"MONITOR_CLICKHOUSE_URL": f"chdb://{tmp_path / 'store'}"}
    build = ("baseline", "build", str(records), "--version")
    v1 = monitor_cli(*build, "v1", "--model", "m", env=env)
    assert "m/v1, 31 records" in v1.stdout
    assert f"note: left out 20 records of {records} naming another model or version: m/v2 (20)" in (
        v1.stderr
    )
    records.write_bytes(b"\n".join(map(orjson.dumps, rows[:-1])))  # every record named
    other = monitor_cli(*build, "x9", "--model", "other", env=env, check=False)
    assert other.returncode == 2, other.stdout + other.stderr
    assert other.stderr.strip() == (
        f"error: no record of other/x9 in {records}: its records are of m/v1 (30), m/v2 (20); "
        "a record naming no model or version is taken for any"
    )
