"""Web views of a worker: Prometheus ``/metrics``, ``/health`` and a read-only ``/query`` endpoint.

In embedded mode only the worker can open the chdb directory, so ``monitor query`` asks it here.
"""

from __future__ import annotations

import asyncio
import re

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.adapters.remote_store import decode_value, encode_value, handle_store_call
from monitor.errors import StoreError
from streams.wiring import Wiring

__all__ = ["READ_ONLY", "register_views"]

READ_ONLY = re.compile(r"^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN)\b", re.IGNORECASE)


def register_views(app: faust.App, wiring: Wiring) -> None:
    @app.page("/metrics")
    async def metrics(web, request):
        return web.bytes(generate_latest(wiring.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/health")
    async def health(web, request):
        return web.json({"status": "ok", "positions": len(wiring.positions)})

    @app.page("/store")
    class Store(faust.web.View):
        """Store calls of the other local workers when this worker owns an embedded store."""

        async def post(self, request):
            if not wiring.owns_store:
                return self.json({"error": "this worker does not own the store", "retryable": True}, status=409)
            body = await request.json()
            loop = asyncio.get_running_loop()
            try:
                result = await loop.run_in_executor(wiring.executor, handle_store_call, wiring.store, body)
            except (StoreError, ValueError, KeyError) as exc:
                return self.json({"error": str(exc)}, status=400)
            return self.json(result)

    @app.page("/query")
    class Query(faust.web.View):
        async def post(self, request):
            body = await request.json()
            sql = str(body.get("sql", ""))
            if not READ_ONLY.match(sql):
                return self.json({"error": "only read-only statements (SELECT, WITH, SHOW, DESCRIBE)"}, status=400)
            loop = asyncio.get_running_loop()
            try:
                params = decode_value(body.get("parameters")) or None
                result = await loop.run_in_executor(wiring.executor, wiring.store.query, sql, params)
            except StoreError as exc:
                return self.json({"error": str(exc)}, status=400)
            return self.json({"columns": result.columns, "rows": encode_value([list(r) for r in result.rows])})
