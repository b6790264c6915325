"""Who may call the worker's web port: the bearer token, the loopback rule and the bind check.

- Every path but ``/health`` and ``/metrics`` needs ``Authorization: Bearer <MONITOR_WEB_TOKEN>``
  when a token is set (compared in constant time).
- A worker refuses to bind a non-loopback ``MONITOR_WEB_HOST`` without a token, and says so in one
  line when another process already listens on its port.
- Browsers may open a page once with ``?token=<MONITOR_WEB_TOKEN>``: the answer redirects to the same
  URL without it and sets an HttpOnly, SameSite=Strict cookie that GET requests then carry.
- ``POST /query`` takes only ``Content-Type: application/json`` and no other site's ``Origin``
  (:func:`cross_site_refusal`): a web page open in a browser on the machine could otherwise post
  a statement to a loopback worker without a token (a ``text/plain`` form needs no preflight).
- ``/store`` also needs a loopback peer: the socket's peer address (never a forwarded header) in
  127.0.0.0/8 or ::1 (an IPv4-mapped ``::ffff:127.x.y.z`` counts as its IPv4 address).
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from collections.abc import Awaitable, Callable

from aiohttp import web

from monitor.errors import ConfigError
from monitor.settings import Settings

__all__ = [
    "OPEN_PATHS",
    "TOKEN_COOKIE",
    "bearer_matches",
    "check_web_bind",
    "cross_site_refusal",
    "is_loopback_address",
    "peer_is_loopback",
    "token_middleware",
]

OPEN_PATHS = frozenset({"/health", "/metrics"})
TOKEN_COOKIE = "monitor_token"
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def cross_site_refusal(content_type: str, origin: str | None, host: str) -> str | None:
    """Why a ``POST /query`` may be another site's page posting through a browser, or None.

    A browser sends ``application/json`` to another origin only after a preflight this port never
    answers, and names the page's origin in ``Origin``; the CLI and ``curl`` send no ``Origin``.

    >>> cross_site_refusal("application/json", None, "127.0.0.1:6066") is None
    True
    >>> cross_site_refusal("text/plain", None, "127.0.0.1:6066")
    'POST /query takes Content-Type: application/json, not text/plain'
    >>> cross_site_refusal("application/json", "http://evil.example", "127.0.0.1:6066")
    'POST /query from another site (Origin http://evil.example) is refused'
    >>> cross_site_refusal("application/json", "http://127.0.0.1:6066", "127.0.0.1:6066") is None
    True
    """
    if content_type != "application/json":
        return f"POST /query takes Content-Type: application/json, not {content_type or 'none'}"
    if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
        return f"POST /query from another site (Origin {origin}) is refused"
    return None


def is_loopback_address(host: str) -> bool:
    """Whether ``host`` (an IP address) is a loopback address.

    >>> [is_loopback_address(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1", "10.0.0.1", "0.0.0.0")]
    [True, True, True, True, False, False]
    """
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _binds_loopback_only(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address ("" and 0.0.0.0 are not)."""
    if not host or host in ("0.0.0.0", "::", "*"):
        return False
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):  # UnicodeError: no host name (a label over 63 characters)
        return False
    return bool(infos) and all(is_loopback_address(str(info[4][0])) for info in infos)


def check_web_bind(settings: Settings) -> None:
    """ConfigError when the web port would listen beyond loopback without a token."""
    if settings.web_token_value is None and not _binds_loopback_only(settings.web_host):
        raise ConfigError(
            f"MONITOR_WEB_HOST={settings.web_host} is not a loopback address: set MONITOR_WEB_TOKEN "
            "(e.g. `export MONITOR_WEB_TOKEN=$(openssl rand -hex 32)`) or bind 127.0.0.1"
        )


def peer_is_loopback(request: web.Request) -> bool:
    """Whether the TCP peer of ``request`` is a loopback address (the socket's, not a header's)."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return peer is not None and is_loopback_address(str(peer[0]))


def bearer_matches(token: str, authorization: str | None) -> bool:
    """Constant-time check of an ``Authorization: Bearer <token>`` header."""
    expected = f"Bearer {token}".encode()
    supplied = (authorization or "").encode("utf-8", "surrogateescape")
    return hmac.compare_digest(expected, supplied)


def _same(token: str, supplied: str | None) -> bool:
    return supplied is not None and hmac.compare_digest(
        token.encode(), supplied.encode("utf-8", "surrogateescape")
    )


def same_site_location(target: str) -> str:
    """A redirect's target on this site: ``//host/...`` (which browsers read as another site's
    address, the scheme left out) becomes ``/host/...``.

    >>> same_site_location("//evil.example/x?a=1"), same_site_location("/experiments?model=m")
    ('/evil.example/x?a=1', '/experiments?model=m')
    """
    return "/" + target.lstrip("/\\")


def token_middleware(
    token: str, *, secure_cookie: bool = False
) -> Callable[[web.Request, _Handler], Awaitable[web.StreamResponse]]:
    """aiohttp middleware: 401 on every path but OPEN_PATHS without the bearer token (or, for GET,
    its cookie, marked ``Secure`` with ``secure_cookie``: browsers then send it over TLS only)."""

    @web.middleware
    async def require_token(request: web.Request, handler: _Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS or bearer_matches(
            token, request.headers.get("Authorization")
        ):
            return await handler(request)
        if request.method in ("GET", "HEAD"):  # a browser: the cookie, or ?token= once to set it
            if _same(token, request.query.get("token")):
                target = request.rel_url.with_query(
                    [(k, v) for k, v in request.query.items() if k != "token"]
                )
                response = web.HTTPSeeOther(same_site_location(str(target)))
                response.set_cookie(
                    TOKEN_COOKIE,
                    token,
                    httponly=True,
                    samesite="Strict",
                    path="/",
                    secure=secure_cookie or None,
                )
                return response
            if _same(token, request.cookies.get(TOKEN_COOKIE)):
                return await handler(request)
        return web.json_response(
            {"error": "missing or wrong bearer token (MONITOR_WEB_TOKEN)"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="monitor"'},
        )

    return require_token
