"""A scripted chat-completions server on loopback standing in for an LLM judge endpoint.

``behaviour`` decides each reply from the request: ``first`` always prefers position A, ``longer``
prefers the longer answer (the more so the larger the difference), ``quality`` prefers (and grades high) answers containing "GOOD";
``fail`` lists HTTP statuses (or ``"sleep"``) returned by the first calls, in order, before the
behaviour answers; ``garbage`` replies with text no parser can read. ``requests`` records the
method, path and status of every request, completions or not, and ``targets`` its path with the
query; with ``ssl_context`` it serves HTTPS. With ``required_headers`` (e.g. ``{"api-key": KEY}``) a
request, HEAD included, lacking one of them with that exact value is answered 401, as an endpoint
answers a wrong key; with ``head_status`` every HEAD is answered with that status. With
``stall_after`` the completions after that many wait, unanswered, until it is set back to None.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import ssl
import subprocess
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from tests_support import monitor_cli

from monitor.adapters.local_broker import free_port
from monitor.adapters.producer import EventProducer
from monitor.adapters.topics import ensure_topics
from monitor.judge.forward import AnswerRecord
from monitor.judge.sampling import hash_fraction

CRITERIA = ("accuracy", "completeness", "relevance", "helpfulness", "clarity")
_ANSWERS = re.compile(r"\[Answer A\]\n(.*)\n\[Answer B\]\n(.*)\n\[Verdict\]", re.DOTALL)
_GRADED = re.compile(r"\[Answer\]\n(.*)\n\[Grade\]$", re.DOTALL)


def _longer_mostly(a: str, b: str) -> str:
    """The longer answer with probability sigmoid(|length difference| / 40), else the shorter; the
    draw is a hash of the unordered pair, so both orders get the same verdict (no position bias)."""
    if len(a) == len(b):
        return "tie"
    u = hash_fraction("|".join(sorted((a, b))))
    longer_wins = u < 1.0 / (1.0 + math.exp(-abs(len(a) - len(b)) / 40.0))
    return "A" if (len(a) > len(b)) == longer_wins else "B"


@dataclass
class ScriptedJudge:
    behaviour: str = "quality"
    fail: list[Any] = field(default_factory=list)
    sleep_seconds: float = 1.0
    usage: tuple[int, int] = (100, 20)
    calls: list[float] = field(default_factory=list)  # arrival times of every request
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    tokens: int = 0  # tokens reported in successful replies
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status)
    targets: list[str] = field(default_factory=list)  # path and query of every request
    ssl_context: ssl.SSLContext | None = None
    required_headers: dict[str, str] = field(default_factory=dict)
    head_status: int | None = None
    stall_after: int | None = None
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/v1"

    def _content(self, body: dict[str, Any]) -> str:
        user = body["messages"][-1]["content"]
        pair = _ANSWERS.search(user)
        if self.behaviour == "garbage":
            return "I would rather not say."
        if pair:
            a, b = pair.group(1), pair.group(2)
            if self.behaviour == "first":
                winner = "A"
            elif self.behaviour == "longer":
                winner = _longer_mostly(a, b)
            else:
                good_a, good_b = "GOOD" in a, "GOOD" in b
                winner = "A" if good_a and not good_b else "B" if good_b and not good_a else "tie"
            return json.dumps({"winner": winner, "explanation": "scripted"})
        graded = _GRADED.search(user)
        score = 9 if graded and "GOOD" in graded.group(1) else 2
        return json.dumps({**dict.fromkeys(CRITERIA, score), "explanation": "scripted"})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.calls.append(time.monotonic())
        number = len(self.calls)
        body = await request.json()
        self.bodies.append(body)
        self.headers.append(dict(request.headers))
        while self.stall_after is not None and number > self.stall_after:
            await asyncio.sleep(0.05)
        if self.fail:
            failure = self.fail.pop(0)
            if failure == "sleep":
                await asyncio.sleep(self.sleep_seconds)
            else:
                return web.Response(status=int(failure), text="scripted failure")
        prompt, completion = self.usage
        self.tokens += prompt + completion
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.calls)}",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self._content(body)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        )

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.targets.append(request.path_qs)
        if any(request.headers.get(k) != v for k, v in self.required_headers.items()):
            self.requests.append((request.method, request.path, 401))
            return web.json_response({"error": {"message": "Incorrect API key"}}, status=401)
        if request.method == "HEAD" and self.head_status is not None:
            self.requests.append((request.method, request.path, self.head_status))
            return web.Response(status=self.head_status)
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as exc:  # e.g. 405 for a method the path does not take
            self.requests.append((request.method, request.path, exc.status))
            raise
        self.requests.append((request.method, request.path, response.status))
        return response

    async def start(self) -> ScriptedJudge:
        app = web.Application(middlewares=[self._record])
        app.router.add_post("/v1/chat/completions", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class ThreadedJudge:
    """A :class:`ScriptedJudge` served from its own thread and event loop (for subprocess tests)."""

    def __init__(self, judge: ScriptedJudge) -> None:
        self.judge = judge
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: Any = None

    def __enter__(self) -> ScriptedJudge:
        import threading

        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.judge.start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self.judge.stop())
            self._loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.judge

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


def answer(
    rid: str,
    text: str,
    *,
    shadow: bool = False,
    sampled: bool = True,
    tokens: tuple[int | None, int | None] = (10, 20),
) -> AnswerRecord:
    """A production answer (or shadow answer, version v2) of model ``bot`` as the worker forwards
    it to the judge topic."""
    return AnswerRecord(
        rid,
        time.time(),
        "bot",
        "v2" if shadow else "v1",
        "shadow" if shadow else "production",
        f"Question {rid}?",
        text,
        *tokens,
        sampled,
    )


def answer_record(request_id: str, output_text: str, *, shadow: bool = False) -> dict[str, Any]:
    """:func:`answer` without token counts, as the judge topic's JSON holds it."""
    record = answer(request_id, output_text, shadow=shadow, tokens=(None, None))
    return {"kind": "inference", **asdict(record)}


def publish_backlog(
    bootstrap: str, judge_topic: str, feedback_topic: str, messages: list[list[dict[str, Any]]]
) -> None:
    """The judge and feedback topics created, then each list of records one judge message."""

    async def send() -> None:
        await ensure_topics(bootstrap, {judge_topic: 1, feedback_topic: 1})
        async with EventProducer(bootstrap) as producer:
            for records in messages:
                await producer.send_raw(judge_topic, orjson.dumps(records), key=b"k", partition=0)

    asyncio.run(send())


def runner_env(bootstrap: str, unique: str, judge_url: str, **extra: str) -> dict[str, str]:
    """``monitor judge``'s environment: the test's own app id and topics, every answer sampled."""
    return {
        **os.environ,
        "MONITOR_KAFKA_BOOTSTRAP": bootstrap,
        "MONITOR_APP_ID": f"t{unique}",
        "MONITOR_FEEDBACK_TOPIC": f"t{unique}.feedback",
        "MONITOR_DLQ_TOPIC": f"t{unique}.dlq",
        "MONITOR_JUDGE_URL": judge_url,
        "MONITOR_JUDGE_MODEL": "judge-1",
        "MONITOR_JUDGE_SAMPLE_RATE": "1.0",
        "MONITOR_JUDGE_REQUESTS_PER_SECOND": "100",
        **extra,
    }


def stop_cleanly(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM ``process`` and expect it gone with code 0 within ``timeout`` s; killed either way."""
    process.terminate()
    try:
        assert process.wait(timeout) == 0
    finally:
        process.kill()


def closed_ports(count: int) -> list[int]:
    """``count`` different free loopback ports (nothing listens on them yet)."""
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def judge_start_error(env: dict[str, str]) -> tuple[str, str]:
    """``monitor judge`` that stops at start: exit code 2, its last line the only error line and no
    traceback. That line, and all it wrote."""
    done = monitor_cli("judge", env=env, check=False, timeout=45)
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert [line for line in lines if line.startswith("error:")] == lines[-1:], done.stderr
    assert "Traceback" not in done.stderr
    return lines[-1], done.stdout + done.stderr


def committed(bootstrap: str, group: str, topic: str) -> int | None:
    """``group``'s committed offset on partition 0 of ``topic`` (read without joining the group)."""

    async def fetch() -> int | None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            return await consumer.committed(TopicPartition(topic, 0))
        finally:
            await consumer.stop()

    return asyncio.run(fetch())
