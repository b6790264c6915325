"""Browser access to the dashboard: ``?token=`` once sets an HttpOnly SameSite=Strict cookie that GET
requests carry; the cookie never authorizes a POST."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from streams.access import TOKEN_COOKIE, token_middleware


async def _calls(secure_cookie: bool = False) -> dict[str, object]:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(middlewares=[token_middleware("t0ken", secure_cookie=secure_cookie)])
    app.router.add_get("/", ok)
    app.router.add_post("/query", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    out: dict[str, object] = {}
    try:
        async with aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as session:  # an IP host
            async with session.get(f"{base}/?token=wrong") as r:
                out["wrong"] = r.status
            async with session.get(f"{base}/?model=m&token=t0ken", allow_redirects=False) as r:
                out["redirect"] = (r.status, r.headers["Location"], r.headers["Set-Cookie"])
            async with session.get(f"{base}/?model=m") as r:
                out["with cookie"] = r.status
            # a path that starts with // (a link someone was sent): the redirect stays on this site
            async with session.get(
                f"{base}//evil.example/x?token=t0ken", allow_redirects=False
            ) as r:
                out["other site"] = (r.status, r.headers["Location"])
            async with session.post(f"{base}/query", json={}) as r:
                out["post with cookie"] = r.status
        async with (
            aiohttp.ClientSession(cookies={TOKEN_COOKIE: "wrong"}) as session,
            session.get(base) as r,
        ):
            out["wrong cookie"] = r.status
    finally:
        await runner.cleanup()
    return out


def test_token_query_sets_a_strict_httponly_cookie_for_get_only() -> None:
    out = asyncio.run(_calls())
    assert out["wrong"] == 401 and out["wrong cookie"] == 401
    status, location, cookie = out["redirect"]
    assert status == 303 and location == "/?model=m"
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback: a Secure cookie would never come back
    assert out["with cookie"] == 200
    assert out["post with cookie"] == 401
    # before: Location ////evil.example/x, which a browser follows to evil.example
    assert out["other site"] == (303, "/evil.example/x")


def test_behind_a_tls_proxy_the_cookie_is_marked_secure() -> None:
    """MONITOR_WEB_SECURE_COOKIE: before, the cookie could not be marked Secure, so a browser that
    once reached the host over plain HTTP sent the token in clear text."""
    out = asyncio.run(_calls(secure_cookie=True))
    _, _, cookie = out["redirect"]
    assert "Secure" in cookie and "HttpOnly" in cookie
