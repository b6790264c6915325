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
from functools import partial
from typing import Any, cast

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.adapters.clickhouse_store import parse_store_url
from monitor.adapters.judge_journal import summaries_reader
from monitor.adapters.query_answer import query_answer
from monitor.adapters.readonly_query import QueryRefused, ReadOnlyQueries
from monitor.adapters.remote_store import decode_value, handle_store_call, store_error_reply
from monitor.adapters.store_secret import SECRET_HEADER, secret_matches
from monitor.dashboard.server import NamedReader, dashboard_routes
from monitor.errors import StoreError
from streams.access import cross_site_refusal, peer_is_loopback, token_middleware
from streams.wiring import Wiring

__all__ = ["MAX_QUERIES_IN_FLIGHT", "register_views"]

#: /query statements queued or running at once; more are answered 503.
MAX_QUERIES_IN_FLIGHT = 4


Reply = tuple[Any, int]  # a JSON body (or its encoded bytes) and its HTTP status


def register_views(app: faust.App, wiring: Wiring) -> None:
    """Add a worker's web views. With a token, its check guards every route but ``/health`` and
    ``/metrics``; the dashboard's ``/`` is added before faust's own index, so it wins."""
    token = wiring.settings.web_token_value
    web_app = app.web.web_app  # type: ignore[attr-defined]  # the aiohttp driver's application
    if token is not None:
        web_app.middlewares.append(
            token_middleware(token, secure_cookie=wiring.settings.web_secure_cookie)
        )
    web_app.on_shutdown.append(partial(stop_queries, wiring))
    add_dashboard(web_app, wiring)
    add_metrics_and_health(app, wiring)
    if wiring.owns_store and wiring.store_secret is not None:
        add_store_view(app, wiring, wiring.store_secret)
    add_query_view(app, QueryRunner(wiring))


async def stop_queries(wiring: Wiring, _web_app: Any) -> None:
    """At shutdown, refuse and cancel the /query statements before the server waits for its
    running handlers (they would hold the shutdown)."""
    await asyncio.get_running_loop().run_in_executor(None, wiring.stop_queries)


def add_dashboard(web_app: Any, wiring: Wiring) -> None:
    """The dashboard at ``/``, read like /query; a worker that does not own the store points to
    the one that does."""
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
            judge=summaries_reader(wiring.settings),
        )
    )


def add_metrics_and_health(app: faust.App, wiring: Wiring) -> None:
    """``/metrics`` for Prometheus and ``/health`` for orchestrators."""

    @app.page("/metrics")
    async def metrics(web, request):
        return web.bytes(
            generate_latest(wiring.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0]
        )

    @app.page("/health")
    async def health(web, request):  # unauthenticated: orchestrators probe it
        body, status = wiring.health.report(time.time(), wiring.broker_answered_at())
        return web.json({**body, "positions": len(wiring.positions)}, status=status)


def add_store_view(app: faust.App, wiring: Wiring, secret: str) -> None:
    """``/store``: the owner of an embedded store answers the other local workers' store calls."""

    @app.page("/store")
    class Store(faust.web.View):
        """Store calls of the other local workers of this embedded store (loopback, with its secret)."""

        async def post(self, request):
            reply, status = await store_call_reply(wiring, secret, request)
            return self.json(reply, status=status)


async def store_call_reply(wiring: Wiring, secret: str, request: Any) -> Reply:
    """Run one /store call of a loopback peer that sends the data directory's secret and a JSON
    object, on the ingest executor; a refused or failed call gets its error and status."""
    if not peer_is_loopback(request):
        return {"error": "/store answers loopback peers only"}, 403
    if not secret_matches(secret, request.headers.get(SECRET_HEADER)):
        return {"error": f"missing or wrong {SECRET_HEADER}"}, 403
    body = await _json_body(request)
    if body is None:
        return {"error": "the body must be a JSON object"}, 400
    loop = asyncio.get_running_loop()
    try:
        result = await loop.run_in_executor(wiring.executor, handle_store_call, wiring.store, body)
    except (StoreError, ValueError, KeyError) as exc:
        return store_error_reply(exc)
    return result, 200


def add_query_view(app: faust.App, runner: QueryRunner) -> None:
    """``/query``: one read-only SELECT, answered by ``runner``."""

    @app.page("/query")
    class Query(faust.web.View):
        """One read-only SELECT: ``{"sql": "...", "parameters": {...}}`` -> ``{"columns", "rows"}``."""

        async def post(self, request):
            reply, status = await runner.reply(request)
            if isinstance(reply, bytes):  # the answer, encoded on the query thread
                return self.bytes(reply, content_type="application/json", status=status)
            return self.json(reply, status=status)


class QueryRunner:
    """/query statements on their own client and thread, never the ingest ones; at most
    ``MAX_QUERIES_IN_FLIGHT`` queued or running at once."""

    def __init__(self, wiring: Wiring) -> None:
        self.wiring = wiring
        self.in_flight = 0

    async def reply(self, request: Any) -> Reply:
        """Refuse a worker without the store (409), a malformed body (400) or one query too many
        (503); else run the statement."""
        if self.wiring.queries is None:
            return {
                "error": "this worker does not own the embedded store; "
                f"query the owner at {self.wiring.owner_url}"
            }, 409
        cross_site = cross_site_refusal(
            request.content_type, request.headers.get("Origin"), request.host
        )
        if cross_site:
            return {"error": cross_site}, 403
        body = await _json_body(request)
        if (
            body is None
            or not isinstance(body.get("sql"), str)
            or not isinstance(body.get("parameters") or {}, dict)
        ):
            return {
                "error": 'the body must be {"sql": "SELECT ...", "parameters": {"name": value}}'
            }, 400
        if self.in_flight >= MAX_QUERIES_IN_FLIGHT:
            return {"error": f"{self.in_flight} queries are running; retry later"}, 503
        return await self._run(body)

    async def _run(self, body: dict[str, Any]) -> Reply:
        """The columns and rows of one statement as JSON bytes (``query_answer``); a refused
        statement is 403, a failed one 400, and so is a result with a value JSON cannot carry."""
        self.in_flight += 1
        try:
            params = decode_value(body.get("parameters")) or None
            queries = cast(ReadOnlyQueries, self.wiring.queries)  # checked in reply
            answer = await asyncio.get_running_loop().run_in_executor(
                self.wiring.query_executor, _answer, queries, body["sql"], params
            )
        except QueryRefused as exc:
            return {"error": str(exc)}, 403
        except (StoreError, ValueError) as exc:  # ValueError: a parameter or a value not JSON's
            return {"error": str(exc)}, 400
        finally:
            self.in_flight -= 1
        return answer, 200


def _answer(queries: ReadOnlyQueries, sql: str, params: dict[str, Any] | None) -> bytes:
    """Run one statement and encode its answer, both off the event loop."""
    result = queries.query(sql, params)
    return query_answer(result.columns, result.rows)


async def _json_body(request: Any) -> dict[str, Any] | None:
    """The request's JSON object, or ``None`` when the body is not one."""
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None
