"""The alert outbox on embedded ClickHouse: pending until a final row, per sink, oldest first."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.adapters.alert_outbox import AlertOutbox
from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.alerts.state import Alert


@pytest.fixture()
def store(chdb_dir: Path) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    s.migrate()
    yield s
    s.command(f"DROP DATABASE IF EXISTS {s.db}")


FIRING = Alert.firing(
    "takeover",
    "critical",
    "chat",
    "v2",
    600.0,
    "too many takeovers",
    evidence={"metrics": [{"metric": "human_takeover", "value": 0.4}]},
    recommended_action="rollback",
)
RESOLVED = FIRING.resolved(1200.0)


def test_pending_until_each_sink_is_done(store: ClickHouseStore) -> None:
    outbox = AlertOutbox(store)
    outbox.add([FIRING], ["webhook", "kafka"])
    time.sleep(0.01)  # recorded in a later alert run
    outbox.add([RESOLVED], ["webhook", "kafka"])
    assert outbox.pending(["webhook", "kafka"]) == [
        ("kafka", FIRING),
        ("webhook", FIRING),
        ("kafka", RESOLVED),
        ("webhook", RESOLVED),
    ]
    outbox.finish(FIRING, "kafka", "delivered")
    outbox.finish(RESOLVED, "webhook", "duplicate")
    assert outbox.pending(["webhook", "kafka"]) == [("webhook", FIRING), ("kafka", RESOLVED)]
    outbox.finish(FIRING, "webhook", "given_up")
    assert outbox.pending(["webhook", "kafka"]) == [("kafka", RESOLVED)]
    assert outbox.pending(["webhook"]) == []  # a sink no longer configured is not asked for
    assert outbox.pending([]) == []


def test_recording_a_notification_twice_keeps_one_delivery(store: ClickHouseStore) -> None:
    outbox = AlertOutbox(store)
    outbox.add([FIRING], ["webhook"])
    outbox.add([FIRING], ["webhook"])  # the same windows evaluated again after a crash
    assert outbox.pending(["webhook"]) == [("webhook", FIRING)]
    outbox.finish(FIRING, "webhook", "delivered")
    assert outbox.pending(["webhook"]) == []


def test_only_final_states_close_a_delivery(store: ClickHouseStore) -> None:
    with pytest.raises(ValueError, match="'pending' is not one of"):
        AlertOutbox(store).finish(FIRING, "webhook", "pending")
