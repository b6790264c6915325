"""What the CLI prints about a store or a broker never holds a password (docs/SECURITY.md, Secrets)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tests_support import running_ui

from monitor.adapters.local_broker import free_port

PASSWORD = "S3cretPW"


@pytest.fixture()
def stand_in_clickhouse() -> Iterator[ThreadingHTTPServer]:
    """A loopback HTTP server that answers what clickhouse-connect asks when it connects: the
    server's version and time zone, then empty results (no settings, no rows)."""

    class ClickHouse(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b"24.8.1.1\tUTC\n" if b"SELECT version(), timezone()" in query else b""
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), ClickHouse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_ui_prints_the_store_url_without_its_password(stand_in_clickhouse) -> None:
    """Before: `dashboard of http://alice:S3cretPW@127.0.0.1:18998/monitor: http://127.0.0.1:18050/`."""
    port = stand_in_clickhouse.server_address[1]
    url = f"http://alice:{PASSWORD}@127.0.0.1:{port}/monitor"
    with running_ui({"MONITOR_CLICKHOUSE_URL": url}) as ui:
        assert ui.line.startswith(f"dashboard of http://alice:***@127.0.0.1:{port}/monitor: "), (
            ui.line
        )
    assert PASSWORD not in ui.line + ui.stdout + ui.stderr


def test_broker_prints_its_storage_url_without_its_password() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "broker", "--port", str(free_port())]
        + ["--storage", f"memory://alice:{PASSWORD}@tansu/"],
        env=os.environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        line = process.stdout.readline()
    finally:
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=30)
    assert "(storage memory://alice:***@tansu/)" in line, line + errors
    assert PASSWORD not in line + rest + errors
