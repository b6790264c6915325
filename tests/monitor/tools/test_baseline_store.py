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
    assert f"Invalid value for '{option}'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "store").exists()
