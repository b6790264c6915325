"""The data directory's secret: written 0600, compared in constant time, sent by RemoteStore."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from monitor.adapters.clickhouse_connection import owner_only_directory
from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.remote_store import RemoteStore, handle_store_call
from monitor.adapters.store_secret import (
    SECRET_HEADER,
    issue_secret,
    read_secret,
    secret_matches,
    secret_path,
)
from monitor.errors import StoreError


def test_each_owner_start_writes_a_new_secret_readable_by_its_user_only(tmp_path):
    path = secret_path(f"chdb://{tmp_path / 'store'}")
    assert path == tmp_path / "store.secret"
    first = issue_secret(path)
    assert path.stat().st_mode & 0o777 == 0o600 and read_secret(path) == first and len(first) >= 40
    second = issue_secret(path)
    assert second != first and read_secret(path) == second
    assert list(tmp_path.iterdir()) == [path]  # no staging file left behind
    assert secret_path("http://ch:8123/monitor") is None


def test_the_store_directory_is_readable_by_its_user_only_new_or_existing(tmp_path):
    fresh = tmp_path / "data" / "clickhouse"
    owner_only_directory(fresh)
    assert fresh.stat().st_mode & 0o777 == 0o700
    existing = tmp_path / "old-store"
    existing.mkdir(mode=0o755)
    existing.chmod(0o755)  # as a worker before this left it under umask 022
    owner_only_directory(existing)
    assert existing.stat().st_mode & 0o777 == 0o700


def test_a_missing_or_empty_secret_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="cannot read the store secret"):
        read_secret(tmp_path / "nope.secret")
    (tmp_path / "empty.secret").write_text("")
    with pytest.raises(StoreError, match="is empty"):
        read_secret(tmp_path / "empty.secret")


def test_secret_comparison() -> None:
    assert secret_matches("abc", "abc")
    assert not any(
        secret_matches("abc", s) for s in (None, "", "ab", "abcd", "abd", "ABC", "ab\udcff")
    )


def test_remote_store_sends_the_secret_and_reads_a_new_one_once(chdb_dir, tmp_path):
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    secret_file = tmp_path / "store.secret"
    expected = {"value": issue_secret(secret_file)}
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(self.headers.get(SECRET_HEADER))
            ok = secret_matches(expected["value"], self.headers.get(SECRET_HEADER))
            data = json.dumps(
                handle_store_call(store, body) if ok else {"error": "wrong secret"}
            ).encode()
            self.send_response(200 if ok else 403)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        remote = RemoteStore(
            f"chdb://{chdb_dir}", f"http://127.0.0.1:{server.server_port}", secret_file=secret_file
        )
        assert remote.query("SELECT 41 + 1").rows == [(42,)]
        expected["value"] = issue_secret(secret_file)  # the owner restarted
        assert remote.query("SELECT 2").rows == [(2,)]
        assert (
            seen[-3:] == [seen[-3], seen[-3], expected["value"]] and seen[-3] != expected["value"]
        )
        expected["value"] = (
            "another owner's secret"  # a file we cannot see: refused, not retried forever
        )
        with pytest.raises(StoreError, match="403"):
            remote.query("SELECT 3")
    finally:
        server.shutdown()
        server.server_close()
