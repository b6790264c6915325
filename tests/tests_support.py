"""Small builders of valid events for tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from monitor.adapters.local_broker import free_port
from monitor.adapters.reader import HttpReader
from monitor.adapters.remote_store import handle_store_call, store_error_reply
from monitor.adapters.worker_process import WorkerProcess
from monitor.errors import StoreError

IN_CI = os.environ.get("CI", "").lower() == "true"

# The e2e workers' MONITOR_REFRESH_INTERVAL: an idle leader's refresh is a dozen store queries, a
# tenth of a core at 0.5 s, most of what a test's worker costs while it waits.
E2E_REFRESH_SECONDS = 1.0

# Statements /query must refuse: they write, change settings, reach files, the network or processes.
# {secret} is a readable file, {out} a path that must not appear, {port} a loopback listener.
REFUSED_STATEMENTS = [
    "DROP TABLE monitor.partials",
    "SELECT 1; DROP TABLE monitor.partials",
    "SELECT count() FROM monitor.partials;\nTRUNCATE TABLE monitor.partials",
    "INSERT INTO monitor.partials (src_topic) VALUES ('forged')",
    "INSERT INTO FUNCTION file('{out}', 'TSV') SELECT 1",
    "ALTER TABLE monitor.partials DELETE WHERE 1",
    "ALTER TABLE monitor.partials UPDATE last_offset = 0 WHERE 1",
    "CREATE TABLE monitor.evil (x UInt8) ENGINE = Memory",
    "CREATE TABLE monitor.evil ENGINE = File(TSV, '{out}') AS SELECT 1",
    "RENAME TABLE monitor.partials TO monitor.gone",
    "TRUNCATE TABLE monitor.partials",
    "OPTIMIZE TABLE monitor.partials FINAL",
    "SET readonly = 0",
    "SELECT 1 SETTINGS readonly = 0",
    "SELECT 1 SETTINGS max_execution_time = 100000",
    "SYSTEM FLUSH LOGS",
    "SYSTEM SHUTDOWN",
    "KILL QUERY WHERE 1",
    "USE system",
    "SELECT 1 INTO OUTFILE '{out}'",
    "SELECT 1 FORMAT JSON",
    "SELECT file('{secret}')",
    "SELECT * FROM file('{secret}', 'LineAsString')",
    "DESCRIBE file('{secret}', 'CSVWithNames')",
    "SELECT * FROM url('http://127.0.0.1:{port}/x', 'CSV', 'a String')",
    "SELECT * FROM s3('http://127.0.0.1:{port}/bucket/key.csv', 'CSV', 'a String')",
    "SELECT * FROM remote('127.0.0.1:{port}', system.one)",
    "SELECT * FROM mysql('127.0.0.1:{port}', 'db', 't', 'u', 'p')",
    "SELECT * FROM postgresql('127.0.0.1:{port}', 'db', 't', 'u', 'p')",
    "SELECT * FROM executable('id', 'TSV', 'a String')",
    "SELECT * FROM sqlite('{secret}', 't')",
    "SELECT * FROM numbers(2) AS n, file('{secret}', 'LineAsString') AS f",
    "SELECT 1 UNION ALL SELECT count() FROM url('http://127.0.0.1:{port}/x', 'CSV', 'a String')",
    "WITH (SELECT line FROM file('{secret}', 'LineAsString') LIMIT 1) AS s SELECT s",
    "SHOW TABLES",
    "EXPLAIN SELECT 1",
]


def delete_redis_keys(url: str, pattern: str) -> int:
    """Delete the keys matching ``pattern`` (a test's own prefix) from a Redis shared with other
    tests and helpers: never FLUSHDB. Returns how many were deleted."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        deleted = 0
        batch: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=10_000):  # a shared db: big pages
            batch.append(key)
            if len(batch) >= 1000:
                deleted += client.delete(*batch)
                batch = []
        return deleted + (client.delete(*batch) if batch else 0)
    finally:
        client.close()


def missing_service(what: str) -> None:
    """Fail with CI=true, skip elsewhere: a missing service never silently passes CI."""
    if IN_CI:
        pytest.fail(f"{what} is required with CI=true", pytrace=False)
    pytest.skip(f"{what} is not available")  # reached only when CI is not true


def inference(
    request_id: str, timestamp: float, model: str = "m", version: str = "v1", **fields: Any
) -> dict:
    return {
        "request_id": request_id,
        "timestamp": timestamp,
        "model": model,
        "model_version": version,
        "features": {"x": 1.0, "lang": "en"},
        "latency_ms": 120.0,
        **fields,
    }


def publish_raw(bootstrap: str, topic: str, values: list[bytes], partition: int = 0) -> None:
    """Send each value as one message, as is, to one partition."""
    from monitor.adapters.producer import EventProducer

    async def send() -> None:
        async with EventProducer(bootstrap) as producer:
            for value in values:
                await producer.send_raw(topic, value, key=b"k", partition=partition)

    asyncio.run(send())


def reader_for(worker: WorkerProcess) -> HttpReader:
    return HttpReader(worker.url, "monitor")


def written_inferences(worker: WorkerProcess) -> float:
    """Inference events the worker's store holds (every written batch's ``inference_events``)."""
    rows = (
        reader_for(worker)
        .query("SELECT sum(count) FROM monitor.partials WHERE name = 'inference_events'")
        .rows
    )
    return float(rows[0][0] or 0)


def call_failed(request: pytest.FixtureRequest) -> bool:
    """At a fixture's teardown: whether the test itself failed (or never ran to its end)."""
    report = getattr(request.node, "report_call", None)
    return report is None or report.failed


def dump_stacks(worker: WorkerProcess, wait: float = 2.0) -> None:
    """Ask a live worker for the stacks of its threads and asyncio tasks: on SIGUSR1 the worker
    (mode's) writes them to its log."""
    if worker.alive() and worker.process is not None:
        os.kill(worker.process.pid, signal.SIGUSR1)
        time.sleep(wait)


def print_log_tail(path: Path, lines: int = 60) -> None:
    """The last ``lines`` of a child process's log, into the failed test's report (without the
    tables Faust draws of its assignments), then the threads, tasks and frames of a stack dump
    (:func:`dump_stacks`) if the log ends with one (without its local variables)."""
    if not path.exists():
        return
    text = path.read_text(errors="replace").splitlines()
    dumped = next((n for n, line in enumerate(text) if line.startswith("THREAD ")), len(text))
    tail = [line for line in text[:dumped] if not line.startswith(("|", "+"))][-lines:]
    print(f"--- last {len(tail)} lines of {path} ---", *tail, sep="\n")
    frames = [
        line
        for line in text[dumped:]
        if line.startswith(("THREAD ", "TASKS", "  TASK ")) or line.lstrip().startswith('File "')
    ]
    if frames:
        print(f"--- its threads and tasks ({len(frames)} lines) ---", *frames, sep="\n")


def wait_until(
    predicate: Callable[[], bool],
    timeout: float = 60.0,
    what: str = "condition",
    state: Callable[[], object] | None = None,
) -> None:
    """Until ``predicate()`` holds; on timeout the error says what was awaited and, with ``state``,
    where things stood."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, StoreError):
            pass
        time.sleep(0.3)
    last = ""
    if state is not None:
        try:
            last = f"; last seen: {state()}"
        except (OSError, StoreError) as exc:
            last = f"; its state could not be read: {exc}"
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{last}")


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[dict]:
    """Every record of ``topic`` decoded as JSON, once at least ``expected`` have arrived."""

    async def consume() -> list[dict]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        await consumer.start()
        records: list[dict] = []
        try:
            deadline = time.monotonic() + timeout
            while len(records) < expected and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    records.extend(orjson.loads(m.value) for m in messages)
        finally:
            await consumer.stop()
        return records

    return asyncio.run(consume())


class Receiver:
    """An HTTP server on loopback that records every POST (body and headers); start/stop at will."""

    def __init__(self, port: int | None = None) -> None:
        from monitor.adapters.local_broker import free_port

        self.port = port or free_port()
        self.posts: list[tuple[bytes, dict[str, str]]] = []
        self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                posts.append((body, dict(self.headers)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def start_alertmanager(tmp, hook_url: str, resolve_timeout: str = "5m"):
    """A real Alertmanager (Debian's prometheus-alertmanager) on loopback, notifying ``hook_url``;
    an alert posted without ``endsAt`` ends ``resolve_timeout`` after it was posted."""
    import shutil
    import subprocess
    import urllib.request

    from monitor.adapters.local_broker import free_port, wait_for_port

    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if not binary:
        return None
    port = free_port()
    config = tmp / "alertmanager.yml"
    config.write_text(f"""
global:
  resolve_timeout: {resolve_timeout}
route:
  receiver: hook
  group_by: [alertname, model, model_version]
  group_wait: 100ms
  group_interval: 500ms
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {hook_url}
        send_resolved: true
""")
    log = (tmp / "alertmanager.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    if not wait_for_port("127.0.0.1", port, 15):
        proc.kill()
        raise RuntimeError(f"alertmanager did not start; see {log.name}")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    return proc, url


def error_values(partition: int, offsets: range, errors: Any, first_time: float) -> Any:
    """One worker's batch of error values (model m, version v1) from feedback partition ``partition``:
    a detector-values message's content, one value per offset, times counting up from ``first_time``."""
    from monitor.detectors.values import DetectorValues, StreamValues

    return DetectorValues(
        "m",
        "v1",
        "fb",
        partition,
        0,
        offsets[-1],
        {
            "error": StreamValues(
                tuple(offsets),
                tuple(float(e) for e in errors),
                tuple(first_time + i for i in range(len(offsets))),
            )
        },
    )


def monitor_cli(
    *args: str, env: Mapping[str, str], check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m monitor ARGS`` with ``env`` over this process's; with ``check``, exit 0 is asserted."""
    done = subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


@dataclass
class RunningUi:
    """A ``monitor ui`` process, the first line it printed, and (once stopped) its stderr."""

    process: subprocess.Popen[str]
    line: str
    stderr: str = ""
    stdout: str = ""  # what it printed after its first line


@contextlib.contextmanager
def running_ui(env: Mapping[str, str], host: str = "127.0.0.1") -> Iterator[RunningUi]:
    """``python -m monitor ui --host HOST --port 0`` with ``env`` over this process's, stopped with
    Ctrl-C (SIGINT) afterwards; its first line says the port it took."""
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "ui", "--host", host, "--port", "0"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    ui = RunningUi(process, "")
    try:
        ui.line = process.stdout.readline()
        yield ui
    finally:
        process.send_signal(signal.SIGINT)
        ui.stdout, ui.stderr = process.communicate(timeout=30)


def build_baseline(
    path: Path,
    records: Iterable[Mapping[str, Any]],
    env: Mapping[str, str],
    *extra: str,
    model: str = "m",
    version: str = "v1",
) -> subprocess.CompletedProcess[str]:
    """Write ``records`` as JSONL to ``path`` and run ``monitor baseline build`` on it (asserted)."""
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in records))
    return monitor_cli(
        "baseline", "build", str(path), "--model", model, "--version", version, *extra, env=env
    )


def serve_store(store: Any) -> ThreadingHTTPServer:
    """The owner's ``/store`` on loopback: each call runs on the owner's store, errors answered as the worker does."""

    class Owner(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
            try:
                reply, status = handle_store_call(store, body), 200
            except (StoreError, ValueError, KeyError) as exc:
                reply, status = store_error_reply(exc)
            data = orjson.dumps(reply)
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Owner)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def kill_brokers_on(port: int) -> list[int]:
    """The process ids of the Tansu brokers listening on loopback ``port`` (read from Linux's /proc),
    each killed, so a test that finds one left behind by the code under test does not leak it."""
    listener = f"tcp://127.0.0.1:{port}".encode()
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:  # the process exited while we looked
            continue
        if b"broker" in args and listener in args:
            pid = int(cmdline.parent.name)
            found.append(pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return found


# A latency rule that fires on the first window of slow answers (the fault and Redis e2e tests).
SLOW_ANSWERS_RULE = """
rules:
  - name: slow_answers
    signal: latency
    severity: warning
    metric: latency_p95_seconds
    condition: above
    threshold: 0.1
    min_samples: 5
    for_windows: 1
    cooldown_seconds: 0
"""
# The prompt topics of `monitor simulate`'s reference, one per request template.
SIMULATOR_TOPIC_NAMES = [
    "account, cannot, log",
    "app, crashes, open",
    "charged, twice, order",
    "due, package, yesterday",
    "item, return, order",
]
