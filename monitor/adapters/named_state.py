"""Small named states kept in the store's ``alert_state`` table: the last write of a name wins.

The leader's alert and experiment state and the Redis join stores' instance markers live here, so
they outlive the process that wrote them.
"""

from __future__ import annotations

import time

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.contract.timestamps import utc_datetime

__all__ = ["read_state", "write_state"]


def read_state(store: ClickHouseStore, name: str) -> str | None:
    """The latest state written under ``name``, or None if there is none."""
    rows = store.query(
        f"SELECT argMax(state, updated_at) FROM {store.table('alert_state')} "
        "WHERE name = {name:String} GROUP BY name",
        {"name": name},
    ).rows
    return str(rows[0][0]) if rows else None


def write_state(store: ClickHouseStore, name: str, state: str) -> None:
    store.insert(
        "alert_state", [[name, state, utc_datetime(time.time())]], ["name", "state", "updated_at"]
    )
