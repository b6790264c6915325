"""RemoteStore against a real owner: the /store handler over a real embedded store, on loopback."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.local_broker import free_port
from monitor.adapters.reader import live_owner, owner_path, process_start
from monitor.adapters.remote_store import RemoteStore, handle_store_call
from monitor.errors import StoreError


def serve_store(store: ClickHouseStore, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            data = json.dumps(handle_store_call(store, body)).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture()
def store(chdb_dir) -> ClickHouseStore:
    return ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()


def test_connect_waits_for_an_owner_whose_port_opens_late(store, chdb_dir):
    port = free_port()
    starter = threading.Timer(0.8, lambda: servers.append(serve_store(store, port)))
    servers: list[ThreadingHTTPServer] = []
    starter.start()
    started = time.monotonic()
    try:
        remote = RemoteStore(f"chdb://{chdb_dir}", f"http://127.0.0.1:{port}").connect(timeout=10)
        assert time.monotonic() - started >= 0.7
        assert remote.query("SELECT 41 + 1").rows == [(42,)]
    finally:
        starter.join()
        for server in servers:
            server.shutdown()
            server.server_close()


def test_connect_gives_up_after_its_timeout(chdb_dir):
    with pytest.raises(StoreError, match="did not answer"):
        RemoteStore(f"chdb://{chdb_dir}", f"http://127.0.0.1:{free_port()}").connect(timeout=0.5)


def test_a_failed_call_follows_the_store_to_its_new_owner(store, tmp_path):
    import subprocess
    import sys

    url = f"chdb://{tmp_path / 'store'}"
    port = free_port()
    server = serve_store(store, port)
    # the new owner's record: a live process (not this one) serving on ``port``
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "store.owner.json").write_text(
            json.dumps({"pid": owner.pid, "url": f"http://127.0.0.1:{port}"})
        )
        remote = RemoteStore(url, f"http://127.0.0.1:{free_port()}")  # the old owner's port: closed
        with pytest.raises(StoreError, match=f"now owned by pid {owner.pid}"):
            remote.query(
                "SELECT 1"
            )  # the call that failed is not repeated: the caller retries its batch
        assert remote.query("SELECT 41 + 1").rows == [(42,)]
    finally:
        owner.kill()
        owner.wait()
        server.shutdown()
        server.server_close()


def test_an_owner_record_whose_pid_names_another_process_now_is_stale(tmp_path):
    """An owner killed with -9 leaves its record; the kernel may give its pid to another process
    later. A pid that started at another time than the record says is not the owner, so readers
    open the store themselves instead of calling a dead endpoint."""
    import subprocess
    import sys

    url = f"chdb://{tmp_path / 'store'}"
    record = owner_path(url)
    assert record is not None
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        endpoint = f"http://127.0.0.1:{free_port()}"
        started = process_start(other.pid)
        assert started is not None
        for announced, owns in ((str(int(started) - 1), False), (started, True), (None, True)):
            fields = {"pid": other.pid, "url": endpoint, "started": announced}
            if announced is None:  # a record written before records said when their owner started
                del fields["started"]
            record.write_text(json.dumps(fields))
            assert (live_owner(url) is not None) == owns, fields
    finally:
        other.kill()
        other.wait()
    assert live_owner(url) is None  # and a pid no process has
