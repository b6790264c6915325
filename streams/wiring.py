"""The one place where clients are built: store, metrics registry, executor for blocking calls."""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.client_security import clickhouse_client_options, redis_client_options
from monitor.adapters.drift_store import DriftStore
from monitor.adapters.join_store import JoinStore, make_join_store
from monitor.adapters.outcome_store import OutcomeStore
from monitor.adapters.prometheus_metrics import MonitorMetrics
from monitor.adapters.reader import live_owner, owner_path
from monitor.adapters.remote_store import RemoteStore, StoreLock, wait_for_owner
from monitor.baseline import Baseline
from monitor.pipeline import Position
from monitor.services.outcomes import OutcomeStage
from monitor.settings import Settings

__all__ = ["Wiring"]

log = logging.getLogger("monitor.worker")


@dataclass
class Wiring:
    settings: Settings
    store: ClickHouseStore
    metrics: MonitorMetrics
    registry: CollectorRegistry
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="store"))
    positions: dict[tuple[str, int], Position] = field(default_factory=dict)
    baselines: dict[tuple[str, str], tuple[str, Baseline]] = field(default_factory=dict)
    samples_sent: dict[tuple[str, str], int] = field(default_factory=dict)
    join_store: JoinStore | None = None
    outcome_stage: OutcomeStage | None = None
    owns_store: bool = False
    lock: StoreLock | None = None

    @property
    def drift_store(self) -> DriftStore:
        return DriftStore(self.store)

    def open_join_store(self) -> None:
        """Redis when MONITOR_REDIS_URL is set, else an in-process store with the same behaviour."""
        self.join_store = make_join_store(self.settings.redis_dsn, self.settings.join_ttl_seconds,
                                          prefix=f"{self.settings.app_id}:join:",
                                          client_options=redis_client_options(self.settings))
        self.join_store.setup()
        self.outcome_stage = OutcomeStage(self.join_store, OutcomeStore(self.store),
                                          window_seconds=self.settings.window_seconds,
                                          segment_keys=self.settings.segment_keys)
        log.info("join store: %s", "redis" if self.settings.redis_dsn else "in-process memory")

    @classmethod
    def build(cls, settings: Settings) -> Wiring:
        registry = CollectorRegistry()
        return cls(settings, ClickHouseStore(settings.clickhouse_url, clickhouse_client_options(settings)),
                   MonitorMetrics(registry, settings.metrics_model_labels), registry)

    def open_store(self) -> None:
        """Connect and migrate. An embedded store is owned by the first local worker (a file lock);
        the others reach it through the owner's web port."""
        path = owner_path(self.settings.clickhouse_url)
        if path is not None:
            self.lock = StoreLock(path.with_suffix(".lock"))
            if not self.lock.try_acquire():
                owner = wait_for_owner(lambda: live_owner(self.settings.clickhouse_url))
                self.store = RemoteStore(self.settings.clickhouse_url, owner["url"]).connect()
                self.owns_store = False
                log.info("store owned by pid %s; using it through %s", owner["pid"], owner["url"])
                return
        self.store.connect()
        self.store.migrate()
        self.owns_store = True
        if path is not None:
            host = "127.0.0.1" if self.settings.web_host in ("0.0.0.0", "::") else self.settings.web_host
            url = f"http://{host}:{self.settings.web_port}"
            path.write_text(json.dumps({"pid": os.getpid(), "url": url}))
        log.info("store ready: %s (database %s)", self.store.target.kind, self.store.db)

    def close(self) -> None:
        path = owner_path(self.settings.clickhouse_url)
        if self.owns_store and path is not None and path.exists():
            try:
                if json.loads(path.read_text()).get("pid") == os.getpid():
                    path.unlink()
            except (ValueError, OSError):
                pass
        self.executor.shutdown(wait=True)
        if self.join_store is not None:
            self.join_store.close()
        self.store.close()
        if self.lock is not None:
            self.lock.release()
