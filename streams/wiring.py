"""The one place where clients are built: store, metrics registry, executors for blocking calls.

The ingest executor (one thread) runs every store call of the agent, the timers and ``/store``;
``/query`` has its own thread and its own read-only client (``query_executor``, ``queries``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from prometheus_client import CollectorRegistry

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.client_security import (
    clickhouse_client_options,
    kafka_client_options,
    redis_client_options,
)
from monitor.adapters.drift_store import DriftStore
from monitor.adapters.embedders import load_embedder
from monitor.adapters.inserted_since import clock_skew, skew_warning
from monitor.adapters.join_store import JoinStore, RedisJoinStore, make_join_store
from monitor.adapters.listen_check import local_url
from monitor.adapters.named_state import read_state, write_state
from monitor.adapters.outcome_store import OutcomeStore
from monitor.adapters.prometheus_metrics import MonitorMetrics
from monitor.adapters.reader import live_owner, owner_path, owner_record
from monitor.adapters.readonly_query import QueryLimits, ReadOnlyQueries
from monitor.adapters.redis_calls import check_key_access, refuse_open_redis
from monitor.adapters.redis_join_store import WORKER_NEEDS
from monitor.adapters.remote_store import RemoteStore, StoreLock, wait_for_owner
from monitor.adapters.source_log import SourceLog
from monitor.adapters.store_secret import issue_secret, secret_path
from monitor.drift.embeddings import Embedder
from monitor.errors import StoreError
from monitor.experiments.bound import ExperimentBound
from monitor.experiments.config import ExperimentSpec, experiment_covariates, load_experiments
from monitor.folding.pipeline import Position
from monitor.services.detectors import DetectorOwner
from monitor.services.ingest import IngestHealth
from monitor.services.outcomes import OutcomeStage
from monitor.services.shadow import ShadowStage
from monitor.services.versions import VersionStates
from monitor.settings import WORKER_REDIS_KEYS, Settings

__all__ = ["Wiring"]

log = logging.getLogger("monitor.tools.worker")


@dataclass
class Wiring:
    settings: Settings
    store: ClickHouseStore
    metrics: MonitorMetrics
    registry: CollectorRegistry
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="store")
    )
    positions: dict[tuple[str, int], Position] = field(default_factory=dict)
    versions: VersionStates | None = None  # baselines and sampling state of recently seen versions
    join_store: JoinStore | None = None
    outcome_stage: OutcomeStage | None = None
    # one detector set per version, fed from the detector-values topic
    detector_owner: DetectorOwner | None = None
    shadow_stage: ShadowStage | None = None
    owns_store: bool = False
    lock: StoreLock | None = None
    store_secret: str | None = None
    owner_url: str | None = None
    queries: ReadOnlyQueries | None = None
    query_executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="query")
    )
    health: IngestHealth = field(default_factory=IngestHealth)
    source_log: SourceLog | None = None
    embedder: Embedder | None = None  # MONITOR_EMBEDDER, loaded once at start (docs/embeddings.md)
    # the source partitions this worker consumes and their log ends (the ingest consumer's fetches)
    log_ends: Callable[[], Mapping[tuple[str, int], int]] = field(default=dict)
    # the oldest last fetch answer of those partitions (/health: a broker that went away)
    broker_answered_at: Callable[[], float | None] = field(default=lambda: None)

    def open_source_log(self) -> SourceLog:
        """The broker client that checks stored positions (log identity, log end); connects on first use."""
        if self.source_log is None:
            self.source_log = SourceLog(
                self.settings.kafka_bootstrap or "", **kafka_client_options(self.settings)
            )
        return self.source_log

    @property
    def drift_store(self) -> DriftStore:
        return DriftStore(self.store)

    @cached_property
    def experiments(self) -> tuple[ExperimentSpec, ...]:
        """MONITOR_EXPERIMENTS, loaded once: the outcome stage's bound and covariates, and the
        leader's reports, read the same specs."""
        s = self.settings
        return load_experiments(s.experiments) if s.experiments else ()

    def _instance_marker(self, prefix: str) -> dict[str, Any]:
        """The Redis instance marker the workers last saw under ``prefix``, and how to save the next:
        a worker that starts after Redis lost its data sees the reset too."""
        if not self.settings.redis_dsn:
            return {}
        name = f"redis-instance:{prefix}"
        return {
            "known_instance": read_state(self.store, name),
            "on_instance": lambda marker: write_state(self.store, name, marker),
        }

    def open_join_store(self) -> None:
        """Redis when MONITOR_REDIS_URL is set, else an in-process store with the same behaviour."""
        s = self.settings
        self.join_store = make_join_store(
            s.redis_dsn,
            s.join_ttl_seconds,
            prefix=s.redis_prefix("join"),
            client_options=redis_client_options(s),
            max_records=s.join_memory_max_records,
            max_feedback=s.max_feedback_per_request,
            on_reset=self.metrics.join_store_resets.labels(store="join").inc,
            **self._instance_marker(s.redis_prefix("join")),
        )
        self.join_store.setup()
        self.outcome_stage = OutcomeStage(
            self.join_store,
            window_seconds=s.window_seconds,
            segment_keys=s.segment_keys,
            covariates=experiment_covariates(self.experiments),
            experiment_bound=ExperimentBound.of(self.experiments, s.max_experiments),
            max_segment_values=s.max_segment_values,
        )
        self.detector_owner = DetectorOwner(
            OutcomeStore(self.store),
            s.detector_values_topic,
            evidence_detectors=s.detector_evidence,
            max_detectors=s.max_detectors,
        )
        self.versions = VersionStates(
            self.drift_store,
            max_versions=s.max_tracked_versions,
            baseline_samples=s.baseline_samples,
            embedder=self.embedder,
            embedding_rate=s.embedding_sample_rate,
        )
        shadow_join = make_join_store(
            s.redis_dsn,
            s.shadow_ttl_seconds,
            prefix=s.redis_prefix("shadow"),
            client_options=redis_client_options(s),
            max_records=s.join_memory_max_records,
            on_reset=self.metrics.join_store_resets.labels(store="shadow").inc,
            **self._instance_marker(s.redis_prefix("shadow")),
        )
        shadow_join.setup()
        if s.redis_dsn:  # an ACL that leaves out a key pattern or a script: said now, not later
            self._check_redis_access([self.join_store, shadow_join])
        self.shadow_stage = ShadowStage(
            shadow_join,
            window_seconds=s.window_seconds,
            embedder=self.embedder,
            embedding_rate=s.embedding_sample_rate,
        )
        log.info("join store: %s", "redis" if self.settings.redis_dsn else "in-process memory")

    def _check_redis_access(self, join_stores: list[JoinStore]) -> None:
        """Once for the worker's Redis: a ``ConfigError`` when the URL's password protects nothing;
        then write and delete a probe key under each prefix the worker uses (alert claims
        included), run the join stores' expiry script once and each command their scripts call on
        probe keys: a :class:`StoreRefused` at start when the user's ACL refuses one of them."""
        s = self.settings
        assert s.redis_dsn is not None
        refuse_open_redis(s.redis_dsn, "Redis join store", redis_client_options(s))
        check_key_access(
            s.redis_dsn,
            [s.redis_prefix(kind) for kind in WORKER_REDIS_KEYS],
            "Redis join store",
            WORKER_NEEDS,
            redis_client_options(s),
        )
        for store in join_stores:
            store.expire(time.time())
            if isinstance(store, RedisJoinStore):
                store.check_commands()

    @classmethod
    def build(cls, settings: Settings) -> Wiring:
        registry = CollectorRegistry()
        return cls(
            settings,
            ClickHouseStore(settings.clickhouse_url, clickhouse_client_options(settings)),
            MonitorMetrics(registry, settings.metrics_model_labels),
            registry,
            health=IngestHealth(failing_after=settings.health_failing_after_seconds),
            embedder=load_embedder(settings.embedder),
        )

    def open_store(self) -> None:
        """Connect and migrate. An embedded store is owned by the first local worker (a file lock);
        the others reach it through the owner's web port."""
        path = owner_path(self.settings.clickhouse_url)
        if path is not None:
            self.lock = StoreLock(path.with_suffix(".lock"))
            if not self.lock.try_acquire():
                owner = wait_for_owner(lambda: live_owner(self.settings.clickhouse_url))
                self.owner_url = owner["url"]
                self.store = RemoteStore(
                    self.settings.clickhouse_url,
                    owner["url"],
                    secret_file=secret_path(self.settings.clickhouse_url),
                    token=self.settings.web_token_value,
                ).connect()
                self.owns_store = False
                log.info("store owned by pid %s; using it through %s", owner["pid"], owner["url"])
                return
        self.store.connect()
        self.store.migrate()
        self.owns_store = True
        skewed = skew_warning(clock_skew(self.store))
        if skewed:
            log.warning("%s", skewed)
        self.queries = ReadOnlyQueries(
            self.settings.clickhouse_url,
            QueryLimits(
                max_execution_time=self.settings.query_timeout_seconds,
                max_result_rows=self.settings.query_max_rows,
                max_result_bytes=self.settings.query_max_bytes,
            ),
            self.store.client_options,
        ).connect()
        secret_file = secret_path(self.settings.clickhouse_url)
        if path is not None and secret_file is not None:
            self.store_secret = issue_secret(
                secret_file
            )  # before the owner record that points at /store
            self.owner_url = local_url(self.settings.web_host, self.settings.web_port)
            path.write_text(json.dumps(owner_record(self.owner_url)))
        log.info("store ready: %s (database %s)", self.store.target.kind, self.store.db)

    def stop_queries(self) -> None:
        """Refuse new /query statements and cancel running ones: they would hold the shutdown."""
        if self.queries is not None:
            try:
                self.queries.stop(self.store)
            except StoreError as exc:
                log.warning("could not cancel running queries: %s", exc)

    def close(self) -> None:
        path = owner_path(self.settings.clickhouse_url)
        if self.owns_store and path is not None and path.exists():
            try:
                if json.loads(path.read_text()).get("pid") == os.getpid():
                    path.unlink()
            except (ValueError, OSError):
                pass
        self.stop_queries()
        self.query_executor.shutdown(wait=True, cancel_futures=True)
        if self.queries is not None:
            self.queries.close()
        self.executor.shutdown(wait=True)
        if self.join_store is not None:
            self.join_store.close()
        if self.shadow_stage is not None:
            self.shadow_stage.join_store.close()
        self.store.close()
        if self.lock is not None:
            self.lock.release()
