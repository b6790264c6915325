"""The web access rules: loopback peers (from the socket, through a real aiohttp server), the bearer
token, and the bind check."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from aiohttp import web

from monitor.adapters.listen_check import check_listen
from monitor.errors import ConfigError
from monitor.settings import Settings
from streams.access import (
    bearer_matches,
    check_web_bind,
    is_loopback_address,
    peer_is_loopback,
    token_middleware,
)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("192.0.2.2", False),
        ("0.0.0.0", False),
        ("::", False),
        ("::ffff:10.0.0.1", False),
        ("localhost", False),
        ("", False),
        ("fe80::1%eth0", False),
    ],
)
def test_loopback_is_127_0_0_0_8_and_ipv6_1(host: str, loopback: bool) -> None:
    assert is_loopback_address(host) is loopback


def test_bearer_token_must_match_exactly() -> None:
    assert bearer_matches("s3cret", "Bearer s3cret")
    for header in (
        None,
        "",
        "s3cret",
        "Bearer s3cre",
        "Bearer s3cretx",
        "bearer s3cret",
        "Bearer s3cret\u00e9",
    ):
        assert not bearer_matches("s3cret", header)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_binds_need_no_token(host: str) -> None:
    check_web_bind(Settings(web_host=host))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.0.2.2", "no-such-host.invalid"])
def test_other_binds_need_a_token(host: str) -> None:
    with pytest.raises(ConfigError, match="MONITOR_WEB_TOKEN"):
        check_web_bind(Settings(web_host=host))
    with pytest.raises(ConfigError):
        check_web_bind(Settings(web_host=host, web_token=""))
    check_web_bind(Settings(web_host=host, web_token="t0ken"))


def _local_addresses() -> list[str]:
    """Two loopback addresses of this machine a client can connect from. Tests never connect to a
    non-loopback address (the project's tests send traffic to loopback only); the refusal of such a
    peer is shown on the socket address below."""
    return ["127.0.0.1", "127.0.0.2"]


async def _serve_and_call(addresses: list[str]) -> dict[str, tuple[int, str]]:
    async def peer(request: web.Request) -> web.Response:
        return web.json_response({"loopback": peer_is_loopback(request)})

    app = web.Application(middlewares=[token_middleware("t0ken")])
    app.router.add_get("/peer", peer)
    app.router.add_get("/health", peer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "0.0.0.0", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    answers: dict[str, tuple[int, str]] = {}
    try:
        for address in addresses:
            connector = aiohttp.TCPConnector(local_addr=(address, 0))
            async with aiohttp.ClientSession(connector=connector) as session:
                target = address if address != "127.0.0.2" else "127.0.0.1"
                headers = {"Authorization": "Bearer t0ken", "X-Forwarded-For": "127.0.0.1"}
                async with session.get(f"http://{target}:{port}/peer", headers=headers) as response:
                    answers[address] = (response.status, (await response.json())["loopback"])
                async with session.get(f"http://{target}:{port}/peer") as response:
                    answers[f"{address} without token"] = (response.status, "")
                async with session.get(f"http://{target}:{port}/health") as response:
                    answers[f"{address} health"] = (response.status, "")
    finally:
        await runner.cleanup()
    return answers


def test_the_peer_is_read_from_the_socket_through_a_real_server() -> None:
    addresses = _local_addresses()
    answers = asyncio.run(_serve_and_call(addresses))
    assert answers["127.0.0.1"] == (200, True)
    assert answers["127.0.0.2"] == (200, True)  # all of 127.0.0.0/8 is this machine
    for address in addresses:
        assert answers[f"{address} without token"][0] == 401
        assert answers[f"{address} health"][0] == 200


class _Transport:
    """The one thing the peer check reads from aiohttp's transport: the socket's peer address."""

    def __init__(self, peer: tuple[str, int] | None) -> None:
        self.peer = peer

    def get_extra_info(self, name: str) -> object:
        return self.peer if name == "peername" else None


@pytest.mark.parametrize(
    ("peer", "loopback"),
    [
        (("127.0.0.1", 5000), True),
        (("127.9.9.9", 5000), True),
        (("::1", 5000), True),
        (("192.0.2.2", 5000), False),
        (("10.1.2.3", 5000), False),
        (("::ffff:10.0.0.1", 5000), False),
        (None, False),
    ],
)
def test_a_non_loopback_socket_peer_is_refused_whatever_its_headers(peer, loopback) -> None:
    from aiohttp.test_utils import make_mocked_request

    request = make_mocked_request(
        "GET",
        "/store",
        headers={"X-Forwarded-For": "127.0.0.1", "Host": "127.0.0.1"},
        transport=_Transport(peer),
    )
    assert peer_is_loopback(request) is loopback


def test_the_port_check_refuses_a_port_another_socket_listens_on_and_frees_it_after() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            ConfigError, match=f"MONITOR_WEB_PORT={port}: 127.0.0.1:{port} is taken"
        ):
            check_listen("127.0.0.1", port, "MONITOR_WEB_PORT")
        with pytest.raises(ConfigError, match="set --port to a free port"):
            check_listen("127.0.0.1", port, "--port")
    check_listen("127.0.0.1", port, "MONITOR_WEB_PORT")  # closed: free again
    check_listen("127.0.0.1", 0, "MONITOR_WEB_PORT")  # any free port
