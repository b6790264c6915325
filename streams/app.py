"""Faust app factory: topics, the ingest agent, the window refresher and the web views."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

import faust
from faust.tables import TableManager
from mode import ServiceT

from monitor.adapters.client_security import faust_broker_credentials
from monitor.settings import Settings
from streams.agents import register_agents
from streams.source_consumer import max_fetch_bytes
from streams.timers import register_timers
from streams.web import register_views
from streams.wiring import Wiring

__all__ = ["create_app"]


class NoTablesManager(TableManager):
    """Faust's table manager without its start-up pause: it sleeps 1 s for agents to register
    tables, and the monitor has none (its state lives in the store and the join store)."""

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


class MonitorApp(faust.App):
    """A Faust app that also starts ``extra_dependencies`` with its own services (after its
    producer and consumer), not once it is fully started: the source consumer joins its group
    while Faust's consumer joins Faust's, so a worker does not wait for one join after the other."""

    extra_dependencies: list[ServiceT]

    def on_init_dependencies(self) -> Iterable[ServiceT]:
        return [*super().on_init_dependencies(), *getattr(self, "extra_dependencies", [])]


def create_app(settings: Settings, wiring: Wiring | None = None) -> faust.App:
    """Build the worker app; nothing connects until the worker starts."""
    if not settings.kafka_bootstrap:
        raise ValueError(
            "MONITOR_KAFKA_BOOTSTRAP is not set (monitor demo starts a local broker for you)"
        )
    wiring = wiring or Wiring.build(settings)
    datadir = Path(tempfile.gettempdir()) / "monitor-faust" / settings.app_id
    datadir.mkdir(parents=True, exist_ok=True)
    app = MonitorApp(
        settings.app_id,
        broker=[f"kafka://{server.strip()}" for server in settings.kafka_bootstrap.split(",")],
        broker_credentials=faust_broker_credentials(settings),
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        consumer_auto_offset_reset="earliest",
        web_enabled=True,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        producer_max_request_size=max(settings.max_message_bytes * 2, 1_048_576),
        consumer_max_fetch_size=max_fetch_bytes(settings),
        broker_commit_every=settings.commit_every,
        broker_commit_interval=settings.commit_interval,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
        TableManager=NoTablesManager,
    )
    app.extra_dependencies = [register_agents(app, wiring)]
    register_timers(app, wiring)
    register_views(app, wiring)
    return app
