"""An OpenAI-compatible chat-completions client for the judge (aiohttp).

``setup()`` opens the session and checks that the endpoint answers HTTP at all: one ``HEAD`` of the
endpoint URL, no completion and no tokens. A refused connection, an unknown host, a TLS failure or
no answer within ``check_timeout_seconds`` raises :class:`JudgeUnreachable`; 401 raises
:class:`JudgeKeyRefused` (a wrong or missing key); 403 is logged as a warning (a gateway may answer
403 to a method or path it does not serve, whatever the key); any other status (404, 405, 5xx)
will do.
``complete()`` posts ``{model, messages, max_tokens, temperature: 0}`` to ``MONITOR_JUDGE_URL`` with
``/chat/completions`` appended to its path (its query, e.g. Azure OpenAI's ``?api-version=``, kept:
:func:`chat_completions_endpoint`) with the API key in the header :func:`key_headers` names (a
bearer token, or Azure OpenAI's ``api-key``), and returns the reply's text and token usage.
Timeouts, 429 and 5xx answers and dropped connections are retried with jittered exponential backoff
(full jitter) up to ``retries`` times; any other 4xx is not (retrying cannot fix a bad request or a
bad key), and a 401 raises :class:`JudgeKeyRefused` as at start-up: no call can succeed until the
key is fixed. Every URL in an error goes through :func:`monitor.redact.mask_text`; the key never
appears.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn, Self
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from monitor.errors import ConfigError, MonitorError
from monitor.redact import mask_text, mask_url
from monitor.settings import JudgeKeyHeader

__all__ = [
    "ChatClient",
    "ChatReply",
    "JudgeCallError",
    "JudgeKeyRefused",
    "JudgeUnreachable",
    "chat_completions_endpoint",
    "key_headers",
]

log = logging.getLogger("monitor.judge")
CHAT_COMPLETIONS = "/chat/completions"
# the status of the start-up check that means the key, not the endpoint, is wrong; a 403 may be a
# gateway's answer to a HEAD it does not route (AWS API Gateway's "Missing Authentication Token")
KEY_REFUSED = 401
FORBIDDEN = 403
KEY_HINT = "set MONITOR_JUDGE_API_KEY (and MONITOR_JUDGE_API_KEY_HEADER=api-key for Azure OpenAI)"


def chat_completions_endpoint(url: str) -> str:
    """``url`` with ``/chat/completions`` appended to its path unless it ends so already; its
    query (and credentials) kept.

    >>> chat_completions_endpoint("https://host/v1?api-version=2024-06-01")
    'https://host/v1/chat/completions?api-version=2024-06-01'
    >>> chat_completions_endpoint("https://host/openai/deployments/judge/chat/completions?api-version=X")
    'https://host/openai/deployments/judge/chat/completions?api-version=X'
    >>> chat_completions_endpoint("http://127.0.0.1:11434/v1/")
    'http://127.0.0.1:11434/v1/chat/completions'
    """
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path.endswith(CHAT_COMPLETIONS):
        path += CHAT_COMPLETIONS
    return urlunsplit(parts._replace(path=path))


def key_headers(api_key: str | None, header: JudgeKeyHeader) -> dict[str, str]:
    """The HTTP header that carries ``api_key`` (none without a key).

    >>> key_headers("sk-1", "authorization"), key_headers("k", "api-key"), key_headers(None, "api-key")
    ({'Authorization': 'Bearer sk-1'}, {'api-key': 'k'}, {})
    """
    if not api_key:
        return {}
    if header == "api-key":
        return {"api-key": api_key}
    return {"Authorization": f"Bearer {api_key}"}


class JudgeCallError(MonitorError):
    """A judge call failed; ``reason`` is a short code for the failure counter."""

    def __init__(self, message: str, *, reason: str, retryable: bool) -> None:
        self.reason = reason
        self.retryable = retryable
        super().__init__(mask_text(message))


class JudgeUnreachable(MonitorError):
    """The judge endpoint gave no HTTP answer at start-up; the message names its masked URL and why."""


class JudgeKeyRefused(MonitorError):
    """The judge endpoint answered 401 (the start-up check or a call): a wrong or missing key."""


@dataclass(frozen=True, slots=True)
class ChatReply:
    text: str
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ChatClient:
    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None,
        *,
        api_key_header: JudgeKeyHeader = "authorization",
        timeout_seconds: float = 30.0,
        check_timeout_seconds: float = 5.0,
        retries: int = 3,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 10.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: random.Random | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.endpoint = chat_completions_endpoint(url)
        self.model = model
        self._api_key = api_key
        self.api_key_header = api_key_header
        self.timeout_seconds = timeout_seconds
        self.check_timeout_seconds = check_timeout_seconds
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._on_retry = on_retry
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"ChatClient({mask_url(self.endpoint)!r}, model={self.model!r})"

    async def setup(self) -> Self:
        """Open the session and check the endpoint answers HTTP (:class:`JudgeUnreachable` if not) and
        takes the key (:class:`JudgeKeyRefused` on 401; a warning on 403)."""
        if self._session is not None:
            return self
        headers = {
            "Content-Type": "application/json",
            **key_headers(self._api_key, self.api_key_header),
        }
        session = aiohttp.ClientSession(
            headers=headers, timeout=aiohttp.ClientTimeout(total=self.timeout_seconds)
        )
        try:
            await self._check_answers(session)
        except BaseException:
            await session.close()
            raise
        self._session = session
        return self

    async def _check_answers(self, session: aiohttp.ClientSession) -> None:
        """One HEAD of the endpoint (never a completion): 401 refuses the key, 403 is a warning, any
        other HTTP status means reachable."""
        try:
            async with session.head(
                self.endpoint,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.check_timeout_seconds),
            ) as response:
                status = response.status
        except TimeoutError as exc:
            self._unreachable(f"no answer within {self.check_timeout_seconds:g} s", exc)
        except aiohttp.ClientError as exc:
            self._unreachable(f"{type(exc).__name__}: {exc}", exc)
        except ValueError as exc:  # aiohttp refuses the request itself: a key and URL credentials
            message = f"judge endpoint {self.endpoint} cannot be called: {exc}"
            raise ConfigError(mask_text(message, secrets=[self._api_key])) from exc
        if status == KEY_REFUSED:
            self._key_refused(status)
        if status == FORBIDDEN:
            message = (
                f"judge endpoint {self.endpoint} answered the start-up check with HTTP 403: if "
                f"the calls fail with http_403, the key lacks access ({KEY_HINT})"
            )
            log.warning("%s", mask_text(message, secrets=[self._api_key]))

    def _key_refused(self, status: int) -> NoReturn:
        sent = key_headers(self._api_key, self.api_key_header)
        if sent:
            what = f"refused the key (HTTP {status}, sent in the {next(iter(sent))} header)"
        else:
            what = f"refused the call (HTTP {status}) and no key is set"
        message = f"judge endpoint {self.endpoint} {what}: {KEY_HINT}"
        raise JudgeKeyRefused(mask_text(message, secrets=[self._api_key]))

    def _unreachable(self, cause: str, exc: BaseException) -> NoReturn:
        message = f"judge endpoint {self.endpoint} is unreachable: {' '.join(cause.split())}"
        raise JudgeUnreachable(mask_text(message, secrets=[self._api_key])) from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        return await self.setup()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)]."""
        cap = min(self.max_backoff_seconds, self.backoff_seconds * 2**attempt)
        return self._rng.uniform(0.0, cap)

    async def complete(self, messages: list[dict[str, str]], max_tokens: int) -> ChatReply:
        """The judge's reply to ``messages``; retries what a retry can fix, then raises JudgeCallError."""
        attempt = 0
        while True:
            try:
                return await self._call_once(messages, max_tokens)
            except JudgeCallError as exc:
                if not exc.retryable or attempt >= self.retries:
                    raise
                if self._on_retry is not None:
                    self._on_retry(exc.reason)
                await self._sleep(self.backoff(attempt))
                attempt += 1

    async def _call_once(self, messages: list[dict[str, str]], max_tokens: int) -> ChatReply:
        if self._session is None:
            raise JudgeCallError(
                "judge client used before setup()", reason="setup", retryable=False
            )
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0,
        }
        try:
            # never redirected: the key and the prompts would go wherever the answer points
            async with self._session.post(
                self.endpoint, json=body, allow_redirects=False
            ) as response:
                if response.status == KEY_REFUSED:  # no call can succeed until the key is fixed
                    self._key_refused(response.status)
                if 300 <= response.status < 400:
                    raise JudgeCallError(
                        f"judge endpoint {self.endpoint} answered a redirect ({response.status} "
                        f"to {mask_url(response.headers.get('Location', '?'))}): set "
                        "MONITOR_JUDGE_URL to where it points; redirects are not followed, the "
                        "key would go with them",
                        reason=f"http_{response.status}",
                        retryable=False,
                    )
                if response.status == 429 or response.status >= 500:
                    raise JudgeCallError(
                        f"judge endpoint {self.endpoint} answered {response.status}",
                        reason=f"http_{response.status}",
                        retryable=True,
                    )
                if response.status >= 400:
                    text = (await response.text())[:200]
                    raise JudgeCallError(
                        f"judge endpoint {self.endpoint} refused the call: {response.status} {text}",
                        reason=f"http_{response.status}",
                        retryable=False,
                    )
                payload = await response.json(content_type=None)
        except TimeoutError as exc:
            raise JudgeCallError(
                f"judge endpoint {self.endpoint} timed out after {self.timeout_seconds:g} s",
                reason="timeout",
                retryable=True,
            ) from exc
        except aiohttp.ClientError as exc:
            raise JudgeCallError(
                f"judge endpoint {self.endpoint} unreachable: {type(exc).__name__}: {exc}",
                reason="connection",
                retryable=True,
            ) from exc
        except ValueError as exc:
            raise JudgeCallError(
                f"judge endpoint {self.endpoint} sent a body that is not JSON",
                reason="bad_body",
                retryable=False,
            ) from exc
        return _reply(payload, self.endpoint)


def _reply(payload: Any, endpoint: str) -> ChatReply:
    try:
        text = payload["choices"][0]["message"]["content"]
        usage = payload.get("usage") or {}
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise JudgeCallError(
            f"judge endpoint {endpoint} answered without choices[0].message.content",
            reason="bad_body",
            retryable=False,
        ) from exc
    if not isinstance(text, str):
        raise JudgeCallError(
            f"judge endpoint {endpoint}: content is {type(text).__name__}, not text",
            reason="bad_body",
            retryable=False,
        )
    return ChatReply(text, prompt, completion)
