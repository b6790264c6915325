"""Who can reach what on a running worker: every endpoint with and without the token, /query
refusing every write or file/network statement, /store refusing callers without the data
directory's secret or from a non-loopback address, and a slow query that ingestion outlives."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest
from tests_support import REFUSED_STATEMENTS, inference, monitor_cli, wait_until

from monitor.adapters.clickhouse_store import OFFSET_MARKER, PARTIAL_COLUMNS
from monitor.adapters.producer import EventProducer
from monitor.adapters.store_secret import SECRET_HEADER, secret_path
from monitor.settings import Settings

TOKEN = "test-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def call(
    url: str,
    method: str = "GET",
    body: dict | None = None,
    headers: dict | None = None,
    timeout: float = 30,
) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def query(worker, sql: str, headers: dict | None = BEARER, **params) -> tuple[int, dict]:
    status, text = call(f"{worker.url}/query", "POST", {"sql": sql, "parameters": params}, headers)
    return status, json.loads(text)


def worker_routes(env: dict[str, str]) -> list[tuple[str, str]]:
    """Every (method, path) the worker's web app serves, read from the app itself."""
    from streams.app import create_app
    from streams.wiring import Wiring

    settings = Settings(**{k.removeprefix("MONITOR_").lower(): v for k, v in env.items()})
    wiring = Wiring.build(settings)
    wiring.owns_store, wiring.store_secret = True, "unused"  # as the owner of an embedded store
    app = create_app(settings, wiring)
    app.web.init_server()
    routes = {
        (r.method, r.resource.canonical)
        for r in app.web.web_app.router.routes()
        if r.method != "HEAD"
    }
    return sorted((m, p.replace("{name}", "x").replace("{key}", "y")) for m, p in routes)


class ConnectionCounter:
    """A TCP listener on loopback that counts the connections made to it (outbound requests)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


def publish(bootstrap: str, topic: str, events: list[dict], partition: int = 0) -> None:
    async def send() -> None:
        async with EventProducer(bootstrap) as producer:
            await producer.send_raw(topic, orjson.dumps(events), key=b"k", partition=partition)

    asyncio.run(send())


def test_the_token_guards_every_endpoint_and_store_needs_the_secret_and_loopback(
    deployment, start_worker
):
    worker = start_worker(MONITOR_WEB_TOKEN=TOKEN, MONITOR_WEB_HOST="0.0.0.0")
    routes = worker_routes(deployment.env(MONITOR_WEB_TOKEN=TOKEN))
    paths = {p for _, p in routes}
    assert {"/metrics", "/health", "/query", "/store", "/router/", "/table/", "/"} <= paths
    for method, path in routes:
        body = {} if method == "POST" else None
        without, _ = call(f"{worker.url}{path}", method, body)
        wrong, _ = call(f"{worker.url}{path}", method, body, {"Authorization": f"Bearer {TOKEN}x"})
        with_token, _ = call(f"{worker.url}{path}", method, body, BEARER)
        if path in ("/health", "/metrics"):
            assert without == wrong == with_token == 200, (method, path)
        else:
            assert without == wrong == 401, (method, path, without, wrong)
            assert with_token != 401, (method, path)
    status, text = call(
        f"{worker.url}/query", "POST", {"sql": "SELECT 1"}, {"Authorization": TOKEN}
    )
    assert status == 401 and "bearer token" in text

    # /store: only loopback peers with the data directory's secret (and the token)
    topic = deployment.topics["inference"]
    secret_file = secret_path(deployment.env()["MONITOR_CLICKHOUSE_URL"])
    assert secret_file is not None and secret_file.stat().st_mode & 0o777 == 0o600
    secret = secret_file.read_text()
    forged = {
        "op": "insert",
        "table": "partials",
        "columns": PARTIAL_COLUMNS,
        "rows": [
            [topic, 0, 10**12, {"$dt": 0}, 0, "", "", OFFSET_MARKER, "", 0.0, 0.0, {"$dt": 0}]
        ],
    }
    store = f"{worker.url}/store"

    assert call(store, "POST", forged, BEARER)[0] == 403
    assert call(store, "POST", forged, {**BEARER, SECRET_HEADER: secret[:-1] + "x"})[0] == 403
    assert call(store, "POST", forged, {SECRET_HEADER: secret})[0] == 401  # the bearer token too
    # the legitimate caller (a local worker: loopback, secret, token) is answered
    status, text = call(
        store, "POST", {"op": "query", "sql": "SELECT 1 AS one"}, {**BEARER, SECRET_HEADER: secret}
    )
    assert (status, json.loads(text)["rows"]) == (200, [[1]])

    markers = (
        "SELECT count() FROM monitor.partials WHERE src_topic = {t:String} AND name = {m:String}"
    )
    assert query(worker, markers, t=topic, m=OFFSET_MARKER)[1]["rows"] == [[0]]
    # no forged offset: events of that partition are processed, not skipped as replayed
    now = time.time()
    publish(deployment.broker.bootstrap, topic, [inference(f"a{i}", now) for i in range(3)])
    written = "SELECT sum(count) FROM monitor.partials WHERE src_topic = {t:String} AND name = 'inference_events'"
    wait_until(
        lambda: query(worker, written, t=topic)[1]["rows"] == [[3]],
        timeout=60,
        what="3 events written",
    )

    # the CLI sends MONITOR_WEB_TOKEN (and gets a clear error without it)
    env = {**os.environ, **deployment.env(MONITOR_WEB_PORT=str(worker.web_port))}
    env.pop("MONITOR_WEB_TOKEN", None)
    cli = [sys.executable, "-m", "monitor", "query", "metrics", "--format", "csv"]
    refused = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert (
        refused.returncode == 2
        and "HTTP 401" in refused.stderr
        and "MONITOR_WEB_TOKEN" in refused.stderr
    )

    def cli_rows() -> str:
        done = subprocess.run(
            cli,
            env={**env, "MONITOR_WEB_TOKEN": TOKEN},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    wait_until(
        lambda: "inference_events" in cli_rows(),
        timeout=60,
        what="monitor query metrics through the worker",
    )

    # SIGTERM while a long query runs: the query is cancelled, the worker stops cleanly
    heavy: list[tuple[int, dict]] = []
    runner = threading.Thread(
        target=lambda: heavy.append(query(worker, "SELECT count() FROM numbers(1e15)"))
    )
    runner.start()
    running = {
        "op": "query",
        "sql": "SELECT count() FROM system.processes WHERE query LIKE '%monitor-query-%' "
        "AND query NOT LIKE '%system.processes%'",
    }
    wait_until(
        lambda: (
            json.loads(call(store, "POST", running, {**BEARER, SECRET_HEADER: secret})[1])["rows"]
            == [[1]]
        ),
        timeout=30,
        what="the long query to run",
    )
    assert worker.stop(timeout=30) == 0
    runner.join()
    assert heavy[0][0] == 400 and "QUERY_WAS_CANCELLED" in heavy[0][1]["error"]


def test_query_refuses_writes_files_and_network_and_a_slow_query_does_not_stop_ingestion(
    deployment, start_worker, tmp_path
):
    worker = start_worker(MONITOR_WEB_TOKEN=TOKEN, MONITOR_QUERY_TIMEOUT="6s")
    secret = tmp_path / "secret.csv"
    secret.write_text("topsecret,b\n1,2\n")
    out = tmp_path / "written.txt"
    listener = ConnectionCounter()
    tables = "SELECT name FROM system.tables WHERE database = 'monitor' ORDER BY name"
    status, before = query(worker, tables)
    assert status == 200 and ["partials"] in before["rows"]
    try:
        for template in REFUSED_STATEMENTS:
            sql = template.format(secret=secret, out=out, port=listener.port)
            status, answer = query(worker, sql)
            assert status in (400, 403), (sql, status, answer)
            assert "topsecret" not in answer["error"], sql
    finally:
        listener.close()
    assert not out.exists()
    assert listener.accepted == 0
    # parameters are bound by ClickHouse, never written into the text: before, a second statement
    # spliced in through '%(x)s' ran (tables created, files read and written)
    injected = " ; CREATE TABLE monitor.pwned (x UInt8) ENGINE = Memory; SELECT "
    assert query(worker, "SELECT 'a%(x)s' AS s", x=injected) == (
        200,
        {"columns": ["s"], "rows": [["a%(x)s"]]},
    )
    # another site's page posting through a browser on this machine: a text/plain form needs no
    # preflight, and a browser names the page's origin
    for cross_site in (
        {"Content-Type": "text/plain;charset=UTF-8"},
        {"Origin": "http://evil.test"},
    ):
        status, text = call(
            f"{worker.url}/query", "POST", {"sql": "SELECT 1"}, {**BEARER, **cross_site}
        )
        assert status == 403 and "POST /query" in text, (cross_site, status, text)
    assert query(worker, tables) == (200, before)
    assert query(worker, "SELECT {n:UInt8} + 1 AS two", n=1) == (
        200,
        {"columns": ["two"], "rows": [[2]]},
    )
    # a time parameter that is no time is the caller's mistake: 400 naming it, not a 500
    for bad in ("yesterday", 1e300, True):
        status, answer = query(worker, "SELECT {t:DateTime64(3)} AS t", t={"$dt": bad})
        assert status == 400 and '{"$dt"' in answer["error"], (bad, status, answer)

    # a slow query ends at its time limit, and batches are written while it runs
    outcome: list[tuple[int, dict]] = []
    heavy = threading.Thread(
        target=lambda: outcome.append(query(worker, "SELECT count() FROM numbers(1e13)"))
    )
    before = worker.metric("monitor_partial_rows_written_total")
    heavy.start()
    publish(
        deployment.broker.bootstrap,
        deployment.topics["inference"],
        [inference("slow-1", time.time())],
    )
    landed_while_running = False
    while heavy.is_alive():
        if worker.metric("monitor_partial_rows_written_total") > before:
            landed_while_running = heavy.is_alive()
            break
        time.sleep(0.1)
    heavy.join()
    assert landed_while_running, "no batch was written while the query ran"
    status, answer = outcome[0]
    assert status == 400 and "TIMEOUT_EXCEEDED" in answer["error"]


def test_a_worker_will_not_listen_beyond_loopback_without_a_token(deployment, tmp_path: Path):
    env = {**os.environ, **deployment.env(MONITOR_WEB_HOST="0.0.0.0")}
    env.pop("MONITOR_WEB_TOKEN", None)
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "MONITOR_WEB_TOKEN" in done.stderr, done.stderr
    assert not (tmp_path / "store").exists()  # refused before opening anything


@pytest.mark.parametrize(
    ("command", "setting"),
    [(["worker"], "MONITOR_WEB_PORT"), (["judge"], "MONITOR_JUDGE_METRICS_PORT")],
)
def test_a_port_another_process_holds_is_one_line_naming_the_setting(
    deployment, tmp_path: Path, command: list[str], setting: str
):
    # before: a second `monitor worker &` on the machine (the same default port 6066) died with
    # aiohttp's traceback ending "OSError: [Errno 98] error while attempting to bind ...", exit 1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            **deployment.env(),
            "MONITOR_JUDGE_URL": "http://127.0.0.1:9/v1",
            "MONITOR_JUDGE_MODEL": "judge-1",
            setting: str(port),
        }
        done = monitor_cli(*command, env=env, check=False, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"error: {setting}={port}: 127.0.0.1:{port} is taken by another process (a worker or "
        f"judge already running here?): set {setting} to a free port"
    )
    assert not (tmp_path / "store").exists()  # refused before opening anything
