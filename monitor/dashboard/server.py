"""aiohttp routes of the dashboard, shared by the worker's web port and ``monitor ui``.

Pages are read on ``executor`` (store calls block); every response carries a Content-Security-Policy
without ``unsafe-inline``: the script and stylesheet are files of this package.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from importlib import resources
from typing import Any, cast

from aiohttp import web

from monitor.dashboard import data, pages
from monitor.dashboard.filters import Filters
from monitor.dashboard.svg import esc
from monitor.errors import MonitorError
from monitor.judge.stats import PairKey, PairSummary

__all__ = ["CSP", "STATIC_FILES", "NamedReader", "dashboard_routes", "run_ui"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
STATIC_FILES = {
    "dashboard.css": "text/css",
    "dashboard.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
}
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


# The LLM judge's pairwise summaries (monitor.adapters.judge_journal.pair_summaries of the settings)
JudgeSummaries = Callable[[], Mapping[PairKey, PairSummary]]


def _judged(judge: JudgeSummaries | None) -> tuple[Mapping[PairKey, PairSummary], str | None]:
    """The judge's summaries, or none and why (a Redis that does not answer leaves the page up)."""
    if judge is None:
        return {}, None
    try:
        return judge(), None
    except MonitorError as exc:
        return {}, str(exc)


def _body(
    reader: Any, path: str, f: Filters, judge: JudgeSummaries | None = None
) -> tuple[str, str, list[tuple[str, str, str]]]:
    dims, stamp = data.dimensions(reader), data.freshness(reader)
    if path == "/drift":
        body = pages.drift_page(data.drift_cells(reader, f), f, data.histogram(reader, f))
    elif path == "/alerts":
        body = pages.alerts_page(data.alerts(reader, f))
    elif path == "/experiments":
        body = pages.experiments_page(data.experiments(reader, f)) + pages.shadow_section(
            data.shadow_rows(reader, f), *_judged(judge)
        )
    else:
        body = pages.overview_page(data.overview(reader, f), data.markers(reader, f))
    return body, stamp, dims


def dashboard_routes(
    reader: Any | None,
    executor: Executor | None,
    unavailable: Callable[[], str] | None = None,
    judge: JudgeSummaries | None = None,
) -> list[web.RouteDef]:
    """Routes of the pages, ``/api/stamp`` (what live refresh polls) and the static files.

    ``reader`` is the store (``Reader``); None answers 409 with ``unavailable()`` (a worker that does
    not own the store names the one that does). ``judge`` reads the LLM judge's verdicts the
    shadow comparisons show (None: no MONITOR_REDIS_URL, none shown).
    """

    async def run(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)

    def refused(request: web.Request) -> web.Response:
        message = unavailable() if unavailable is not None else "no store"
        return web.json_response({"error": message}, status=409, headers=_HEADERS)

    async def page(request: web.Request) -> web.Response:
        if reader is None:
            return refused(request)
        f = Filters.from_query(request.query)
        try:
            body, stamp, dims = await run(_body, reader, request.path, f, judge)
        except MonitorError as exc:
            body, stamp, dims = f'<p class="error">the store did not answer: {esc(exc)}</p>', "", []
        html = pages.layout(request.path, f, dims, body, stamp)
        return web.Response(text=html, content_type="text/html", headers=_HEADERS)

    async def stamp(request: web.Request) -> web.Response:
        if reader is None:
            return refused(request)
        try:
            value = await run(data.freshness, reader)
        except MonitorError as exc:
            return web.json_response({"error": str(exc)}, status=503, headers=_HEADERS)
        return web.json_response({"stamp": value}, headers=_HEADERS)

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise web.HTTPNotFound()
        text = resources.files("monitor.dashboard").joinpath("static", name).read_text()
        return web.Response(text=text, content_type=STATIC_FILES[name], headers=_HEADERS)

    return [
        *(web.get(path, page) for path in pages.PAGES),
        web.get("/api/stamp", stamp),
        web.get("/static/dashboard/{name}", static),
    ]


def run_ui(
    reader: Any,
    host: str,
    port: int,
    token: str | None,
    listening: Callable[[int], None],
    *,
    secure_cookie: bool = False,
    judge: JudgeSummaries | None = None,
) -> None:
    """``monitor ui``: serve the dashboard of ``reader`` on ``host:port`` until interrupted.

    ``listening`` is called with the port bound, once the server listens (port 0 is any free one);
    ``judge`` as in :func:`dashboard_routes`.
    """
    from concurrent.futures import ThreadPoolExecutor

    from streams.access import token_middleware

    app = web.Application()
    if token:
        app.middlewares.append(
            cast(Any, token_middleware(token, secure_cookie=secure_cookie))
        )  # an aiohttp @middleware function
    executor = ThreadPoolExecutor(1, thread_name_prefix="ui")
    app.add_routes(dashboard_routes(reader, executor, judge=judge))
    try:
        asyncio.run(_serve(app, host, port, listening))
    except (web.GracefulExit, KeyboardInterrupt):  # Ctrl-C or SIGTERM: a clean stop, as run_app's
        pass


async def _serve(
    app: web.Application, host: str, port: int, listening: Callable[[int], None]
) -> None:
    """Serve ``app`` until a signal stops it; web.run_app cannot say which port 0 became."""
    runner = web.AppRunner(app, handle_signals=True)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        listening(int(runner.addresses[0][1]))
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


class NamedReader:
    """A ``query(sql, parameters)`` callable's owner with the database name the catalogue needs."""

    def __init__(self, queries: Any, db: str) -> None:
        self.queries, self.db = queries, db

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return self.queries.query(sql, parameters)
