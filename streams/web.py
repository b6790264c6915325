"""Web views of a worker: Prometheus ``/metrics``, ``/health``, read-only ``/query``, ``/store`` and
the dashboard at ``/`` (``monitor.dashboard``).

``/query`` runs one read-only SELECT (``monitor.adapters.readonly_query``) on its own client and
thread, never the ingest ones. ``/store`` exists only on the worker that owns an embedded store:
the other local workers call it from loopback with the directory's secret. With
``MONITOR_WEB_TOKEN`` set, everything but ``/health`` and ``/metrics`` needs the bearer token
(``streams.access``).
"""

from __future__ import annotations

import asyncio
import time

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.adapters.clickhouse_store import parse_store_url
from monitor.adapters.readonly_query import QueryRefused
from monitor.adapters.remote_store import (
    decode_value,
    encode_value,
    handle_store_call,
    store_error_reply,
)
from monitor.adapters.store_secret import SECRET_HEADER, secret_matches
from monitor.dashboard.server import NamedReader, dashboard_routes
from monitor.errors import StoreError
from streams.access import peer_is_loopback, token_middleware
from streams.wiring import Wiring

__all__ = ["MAX_QUERIES_IN_FLIGHT", "register_views"]

#: /query statements queued or running at once; more are answered 503.
MAX_QUERIES_IN_FLIGHT = 4


async def _json_body(request) -> dict | None:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def register_views(app: faust.App, wiring: Wiring) -> None:
    token = wiring.settings.web_token_value
    web_app = app.web.web_app  # type: ignore[attr-defined]  # the aiohttp driver's application
    if token is not None:
        web_app.middlewares.append(token_middleware(token))

    async def stop_queries(_web_app) -> None:  # before the server waits for its running handlers
        await asyncio.get_running_loop().run_in_executor(None, wiring.stop_queries)

    web_app.on_shutdown.append(stop_queries)

    # The dashboard at / (added before faust's own index, so it wins), read like /query.
    reader = (
        None
        if wiring.queries is None
        else NamedReader(wiring.queries, parse_store_url(wiring.settings.clickhouse_url).database)
    )
    web_app.router.add_routes(
        dashboard_routes(
            reader,
            wiring.query_executor,
            lambda: f"this worker does not own the store: open {wiring.owner_url}/",
        )
    )

    @app.page("/metrics")
    async def metrics(web, request):
        return web.bytes(
            generate_latest(wiring.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0]
        )

    @app.page("/health")
    async def health(web, request):  # unauthenticated: orchestrators probe it
        body, status = wiring.health.report(time.time(), wiring.broker_answered_at())
        return web.json({**body, "positions": len(wiring.positions)}, status=status)

    if wiring.owns_store and wiring.store_secret is not None:
        secret = wiring.store_secret

        @app.page("/store")
        class Store(faust.web.View):
            """Store calls of the other local workers of this embedded store (loopback, with its secret)."""

            async def post(self, request):
                if not peer_is_loopback(request):
                    return self.json({"error": "/store answers loopback peers only"}, status=403)
                if not secret_matches(secret, request.headers.get(SECRET_HEADER)):
                    return self.json({"error": f"missing or wrong {SECRET_HEADER}"}, status=403)
                body = await _json_body(request)
                if body is None:
                    return self.json({"error": "the body must be a JSON object"}, status=400)
                loop = asyncio.get_running_loop()
                try:
                    result = await loop.run_in_executor(
                        wiring.executor, handle_store_call, wiring.store, body
                    )
                except (StoreError, ValueError, KeyError) as exc:
                    reply, status = store_error_reply(exc)
                    return self.json(reply, status=status)
                return self.json(result)

    in_flight = 0

    @app.page("/query")
    class Query(faust.web.View):
        """One read-only SELECT: ``{"sql": "...", "parameters": {...}}`` -> ``{"columns", "rows"}``."""

        async def post(self, request):
            nonlocal in_flight
            if wiring.queries is None:
                return self.json(
                    {
                        "error": "this worker does not own the embedded store; "
                        f"query the owner at {wiring.owner_url}"
                    },
                    status=409,
                )
            body = await _json_body(request)
            if (
                body is None
                or not isinstance(body.get("sql"), str)
                or not isinstance(body.get("parameters") or {}, dict)
            ):
                return self.json(
                    {
                        "error": 'the body must be {"sql": "SELECT ...", "parameters": {"name": value}}'
                    },
                    status=400,
                )
            if in_flight >= MAX_QUERIES_IN_FLIGHT:
                return self.json(
                    {"error": f"{in_flight} queries are running; retry later"}, status=503
                )
            in_flight += 1
            try:
                params = decode_value(body.get("parameters")) or None
                result = await asyncio.get_running_loop().run_in_executor(
                    wiring.query_executor, wiring.queries.query, body["sql"], params
                )
            except QueryRefused as exc:
                return self.json({"error": str(exc)}, status=403)
            except StoreError as exc:
                return self.json({"error": str(exc)}, status=400)
            finally:
                in_flight -= 1
            return self.json(
                {"columns": result.columns, "rows": encode_value([list(r) for r in result.rows])}
            )
