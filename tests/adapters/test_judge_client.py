"""The judge client's backoff, its start-up check of the endpoint (against closed ports, a silent
listener, an untrusted certificate and a scripted server on loopback) and the judge settings: off
by default, the key a masked secret."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from judge_support import ScriptedJudge
from tls_support import make_certificates

from monitor.adapters.judge_client import (
    ChatClient,
    JudgeCallError,
    JudgeKeyRefused,
    JudgeUnreachable,
)
from monitor.adapters.local_broker import free_port
from monitor.errors import ConfigError
from monitor.settings import Settings

KEY = "sk-judge-Secret-789"


def set_up(client: ChatClient) -> None:
    """``client.setup()``, then ``close()`` if it succeeded."""

    async def run() -> None:
        async with client:
            pass

    asyncio.run(run())


@given(st.integers(0, 20), st.integers(0, 2**32))
def test_backoff_is_full_jitter_below_the_cap(attempt: int, seed: int) -> None:
    client = ChatClient(
        "http://127.0.0.1:9/v1",
        "m",
        None,
        backoff_seconds=0.5,
        max_backoff_seconds=10.0,
        rng=random.Random(seed),
    )
    assert 0.0 <= client.backoff(attempt) <= min(10.0, 0.5 * 2**attempt)


def test_endpoint_is_the_chat_completions_path() -> None:
    assert ChatClient("http://h/v1/", "m", None).endpoint == "http://h/v1/chat/completions"
    assert ChatClient("http://h/v1/chat/completions", "m", None).endpoint.count("chat") == 1
    assert (
        ChatClient("https://h/v1?api-version=2024-06-01", "m", None).endpoint
        == "https://h/v1/chat/completions?api-version=2024-06-01"
    )


def test_errors_mask_credentials_in_urls() -> None:
    error = JudgeCallError(
        "judge endpoint http://u:pw@h/v1?api_key=k1 answered 500", reason="x", retryable=True
    )
    assert "pw" not in str(error) and "k1" not in str(error)


def test_judging_is_off_unless_url_and_model_are_set() -> None:
    assert not Settings().judge_enabled
    assert not Settings(judge_url="http://h/v1").judge_enabled
    on = Settings(judge_url="http://h/v1", judge_model="m", judge_api_key="sk-123", app_id="a")
    assert on.judge_enabled and on.judge_records_topic == "a.judge"
    assert "sk-123" not in repr(on) and "sk-123" not in str(on.model_dump())


@pytest.mark.parametrize(
    ("url", "key", "shown"),
    [
        ("http://judge:pw-Secret-1@127.0.0.1:{port}/v1", None, "http://judge:***@127.0.0.1:{port}"),
        ("http://127.0.0.1:{port}/v1", KEY, "http://127.0.0.1:{port}"),
    ],
)
def test_setup_fails_fast_when_nothing_listens(url: str, key: str | None, shown: str) -> None:
    port = free_port()
    client = ChatClient(url.format(port=port), "m", key)
    started = time.monotonic()
    with pytest.raises(JudgeUnreachable) as error:
        set_up(client)
    assert time.monotonic() - started < 3
    message = str(error.value)
    assert message.startswith(f"judge endpoint {shown.format(port=port)}/v1/chat/completions ")
    assert "is unreachable: ClientConnectorError" in message and "\n" not in message
    assert "Secret" not in message


def test_setup_gives_up_on_an_endpoint_that_never_answers() -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        started = time.monotonic()
        with pytest.raises(JudgeUnreachable, match=r"is unreachable: no answer within 0.5 s$"):
            set_up(ChatClient(url, "m", KEY, timeout_seconds=30, check_timeout_seconds=0.5))
        assert time.monotonic() - started < 3


def test_setup_fails_on_a_certificate_it_does_not_trust(tmp_path) -> None:
    certs = make_certificates(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    judge = ScriptedJudge(ssl_context=context)

    async def run() -> None:
        await judge.start()
        try:
            async with ChatClient(judge.url, "m", KEY):
                pass
        finally:
            await judge.stop()

    with pytest.raises(JudgeUnreachable, match="certificate verify failed") as error:
        asyncio.run(run())
    assert f"judge endpoint {judge.url}/chat/completions is unreachable" in str(error.value)
    assert judge.requests == []


def test_setup_refuses_a_key_together_with_credentials_in_the_url() -> None:
    url = f"http://judge:pw-Secret-1@127.0.0.1:{free_port()}/v1"
    with pytest.raises(ConfigError, match="cannot be called") as error:
        set_up(ChatClient(url, "m", KEY))
    assert "Secret" not in str(error.value)


@pytest.mark.parametrize(
    ("path", "head_status", "status"),
    [("/v1", None, 405), ("/v1/elsewhere", None, 404), ("/v1", 503, 503)],
)
def test_setup_takes_any_http_answer_and_asks_for_no_completion(
    path: str, head_status: int | None, status: int
) -> None:
    """The scripted endpoint only takes POSTs to /v1/chat/completions: the check's request is
    answered 405 there and 404 on any other path (or 503 when told), and setup() succeeds with
    each: only 401 speaks of the key (a 403, below, is a warning)."""
    judge = ScriptedJudge(head_status=head_status)

    async def run() -> None:
        await judge.start()
        try:
            url = f"http://127.0.0.1:{judge.port}{path}"
            async with ChatClient(url, "m", KEY, check_timeout_seconds=2):
                pass
        finally:
            await judge.stop()

    asyncio.run(run())
    assert judge.requests == [("HEAD", f"{path}/chat/completions", status)]
    assert judge.calls == [] and judge.tokens == 0


@pytest.mark.parametrize(
    "path_and_query",
    ["/v1?api-version=2024-06-01", "/v1/chat/completions/?api-version=2024-06-01"],
)
def test_a_query_in_the_url_stays_the_query_of_every_call(path_and_query: str) -> None:
    """Azure OpenAI's ``?api-version=``: the start-up check and the completion both reach
    /v1/chat/completions with the query (before: ``/v1?api-version=...`` plus ``/chat/completions``
    as text, so the path was /v1 or doubled and every call was refused with 404)."""
    judge = ScriptedJudge()

    async def run() -> str:
        await judge.start()
        try:
            url = f"http://127.0.0.1:{judge.port}{path_and_query}"
            async with ChatClient(url, "m", KEY, check_timeout_seconds=2, retries=0) as client:
                reply = await client.complete(
                    [{"role": "user", "content": "[Answer]\nGOOD\n[Grade]"}], 50
                )
            return reply.text
        finally:
            await judge.stop()

    assert '"accuracy": 9' in asyncio.run(run())
    assert judge.targets == ["/v1/chat/completions?api-version=2024-06-01"] * 2
    assert [(method, status) for method, _, status in judge.requests] == [
        ("HEAD", 405),
        ("POST", 200),
    ]


async def served(judge: ScriptedJudge, client_for: Callable[[str], ChatClient]) -> str:
    """A client for ``judge``'s URL set up and asked for one grade; the reply's text."""
    await judge.start()
    try:
        async with client_for(judge.url) as client:
            reply = await client.complete(
                [{"role": "user", "content": "[Answer]\nGOOD\n[Grade]"}], 50
            )
        return reply.text
    finally:
        await judge.stop()


@pytest.mark.parametrize(
    ("setting", "header", "sent", "not_sent"),
    [
        ("authorization", "Authorization", f"Bearer {KEY}", "api-key"),
        ("api-key", "api-key", KEY, "Authorization"),
    ],
)
def test_the_key_travels_in_the_header_the_setting_names(
    setting: str, header: str, sent: str, not_sent: str
) -> None:
    """An endpoint that takes the key only in ``header`` (Azure OpenAI: ``api-key``) answers the
    start-up check and the completion; the other header is not sent (before: always
    ``Authorization: Bearer``, which Azure OpenAI refuses)."""
    judge = ScriptedJudge(required_headers={header: sent})

    def client_for(url: str) -> ChatClient:
        return ChatClient(url, "m", KEY, api_key_header=setting, check_timeout_seconds=2, retries=0)

    assert '"accuracy": 9' in asyncio.run(served(judge, client_for))
    assert [(method, status) for method, _, status in judge.requests] == [
        ("HEAD", 405),
        ("POST", 200),
    ]
    assert judge.headers[0][header] == sent and not_sent not in judge.headers[0]


def test_a_forbidden_start_up_check_is_a_warning_not_a_stop(caplog) -> None:
    """A gateway may answer 403 to a HEAD it does not route whatever the key (AWS API Gateway's
    "Missing Authentication Token"): setup() warns, with the masked URL and never the key, and the
    completion that follows works (before: JudgeKeyRefused stopped a working endpoint)."""
    judge = ScriptedJudge(head_status=403)

    async def run() -> str:
        await judge.start()
        try:
            url = f"http://127.0.0.1:{judge.port}/v1?sig=sig-Secret-5"
            async with ChatClient(url, "m", KEY, check_timeout_seconds=2) as client:
                reply = await client.complete([{"role": "user", "content": "GOOD"}], 50)
                return reply.text
        finally:
            await judge.stop()

    with caplog.at_level(logging.WARNING, logger="monitor.judge"):
        assert asyncio.run(run())
    warned = [r.getMessage() for r in caplog.records if r.name == "monitor.judge"]
    assert len(warned) == 1 and "answered the start-up check with HTTP 403" in warned[0]
    assert "Secret" not in warned[0] and KEY not in warned[0]
    assert [(method, status) for method, _, status in judge.requests] == [
        ("HEAD", 403),
        ("POST", 200),
    ]


@pytest.mark.parametrize(
    ("status", "key", "setting", "refusal"),
    [
        (401, KEY, "authorization", "refused the key (HTTP 401, sent in the Authorization header)"),
        (401, KEY, "api-key", "refused the key (HTTP 401, sent in the api-key header)"),
        (401, None, "authorization", "refused the call (HTTP 401) and no key is set"),
    ],
)
def test_setup_stops_on_a_refused_key_without_a_completion(
    status: int, key: str | None, setting: str, refusal: str
) -> None:
    """The start-up HEAD is answered 401: setup() raises JudgeKeyRefused naming the masked
    URL, the status and what to set, never the key (before: any status passed, and a bad key
    showed up only as failed calls)."""
    judge = ScriptedJudge(head_status=status)

    async def run() -> None:
        await judge.start()
        try:
            url = f"http://127.0.0.1:{judge.port}/v1?api-version=2024-06-01&sig=sig-Secret-5"
            async with ChatClient(url, "m", key, api_key_header=setting, check_timeout_seconds=2):
                pass
        finally:
            await judge.stop()

    with pytest.raises(JudgeKeyRefused) as error:
        asyncio.run(run())
    assert str(error.value) == (
        f"judge endpoint http://127.0.0.1:{judge.port}/v1/chat/completions?api-version=2024-06-01"
        f"&sig=*** {refusal}: set MONITOR_JUDGE_API_KEY (and MONITOR_JUDGE_API_KEY_HEADER=api-key "
        "for Azure OpenAI)"
    )
    assert "Secret" not in str(error.value)
    assert [method for method, _, _ in judge.requests] == ["HEAD"] and judge.calls == []


def test_a_redirect_takes_neither_the_key_nor_the_prompt_elsewhere() -> None:
    """Before: a completion answered 307 was posted again where the answer pointed, with the
    key in its ``api-key`` header (aiohttp drops only ``Authorization`` on a change of host) and
    the prompt; now it is a failed call that is not retried."""
    from aiohttp import web

    elsewhere = ScriptedJudge()
    seen: list[str] = []

    async def redirect(request: web.Request) -> web.StreamResponse:
        seen.append(request.method)
        raise web.HTTPTemporaryRedirect(f"http://localhost:{elsewhere.port}/v1/chat/completions")

    async def run() -> JudgeCallError:
        await elsewhere.start()
        app = web.Application()
        app.router.add_route("*", "/v1/chat/completions", redirect)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with ChatClient(
                f"http://127.0.0.1:{port}/v1", "m", KEY, api_key_header="api-key", retries=0
            ) as client:
                with pytest.raises(JudgeCallError) as failed:
                    await client.complete([{"role": "user", "content": "[Answer]\nx\n[Grade]"}], 5)
            return failed.value
        finally:
            await runner.cleanup()
            await elsewhere.stop()

    error = asyncio.run(run())
    assert (error.reason, error.retryable) == ("http_307", False)
    assert "answered a redirect (307 to http://localhost:" in str(error)
    assert "POST" in seen and elsewhere.calls == [] and elsewhere.headers == []
