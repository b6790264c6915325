"""The in-process shadow store holds at most MONITOR_JOIN_MEMORY_MAX_RECORDS answers, as the join
store does, and counts what it evicts (before: a fixed cap of its own, the setting ignored and the
evictions counted nowhere)."""

from __future__ import annotations

import asyncio
import time
import uuid

from monitor.settings import Settings
from streams.timers import WorkerJobs
from streams.wiring import Wiring


def test_the_shadow_store_takes_the_join_stores_cap_and_counts_its_evictions(chdb_dir):
    settings = Settings(
        clickhouse_url=f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}",
        redis_url=None,
        join_memory_max_records=1000,
    )
    wiring = Wiring.build(settings)
    try:
        wiring.open_store()
        wiring.open_join_store()
        assert wiring.shadow_stage is not None
        shadow = wiring.shadow_stage.join_store
        now = time.time()
        # production answers of a model with shadow traffic, waiting for their shadow partners
        shadow.add_inferences([(f"m\x00r{i}", b"answer") for i in range(1500)], now)
        asyncio.run(WorkerJobs(wiring).shadow_expiry())
        evicted = wiring.registry.get_sample_value(
            "monitor_state_evictions_total", {"state": "shadow"}
        )
        assert evicted == 500
        assert shadow.stored_inferences([f"m\x00r{i}" for i in (0, 499, 500, 1499)]).keys() == {
            "m\x00r500",
            "m\x00r1499",
        }
    finally:
        wiring.close()
