"""Real services for the tests: a Tansu broker subprocess, Redis, embedded ClickHouse (chdb).

With CI=true a missing service fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_support import PasswordRedis, password_redis_server
from tests_support import delete_redis_keys, missing_service

from monitor.adapters.local_broker import LocalBroker, free_port, wait_for_port


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Each phase's report on its item (``item.report_call``), so fixtures can tell a failed test at
    teardown (e.g. to print the logs of the processes it started)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """One Tansu broker per test process (each pytest-xdist worker has its own, on a free port);
    tests use unique topic names. Its log is in the session's temporary directory."""
    try:
        local = LocalBroker(log_path=tmp_path_factory.mktemp("broker") / "tansu.log").start()
    except Exception as exc:
        missing_service(f"Tansu broker ({exc})")
        raise
    yield local
    local.stop()


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """MONITOR_TEST_REDIS_URL, else 127.0.0.1:6379 if it answers, else a redis-server started here."""
    url = os.environ.get("MONITOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    if _redis_answers(url):
        yield url
        return
    binary = shutil.which("redis-server")
    if not binary:
        missing_service("Redis")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if not wait_for_port("127.0.0.1", port, 10):
        proc.kill()
        missing_service("redis-server")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


@pytest.fixture()
def redis_prefix(request: pytest.FixtureRequest) -> Iterator[str]:
    """A key prefix unique to one test, so tests sharing a Redis never see each other's keys; the
    test's keys under it are deleted afterwards from the shared Redis (``redis_url``) if it used it."""
    prefix = f"test:{uuid.uuid4().hex[:10]}:"
    yield prefix
    if "redis_url" in request.fixturenames:
        delete_redis_keys(request.getfixturevalue("redis_url"), prefix + "*")


@pytest.fixture(scope="session")
def chdb_dir() -> Iterator[Path]:
    """chdb lets a process open one data directory: each test process (xdist worker) shares its own."""
    path = Path(tempfile.mkdtemp(prefix="monitor-chdb-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
    for beside in path.parent.glob(f"{path.name}.*"):  # a worker's owner lock and store secret
        beside.unlink(missing_ok=True)


@pytest.fixture()
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def scram_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A local broker that requires SASL (SCRAM-SHA-256 and PLAIN), one per test module."""
    workdir = tmp_path_factory.mktemp("scram-broker")
    try:
        broker = LocalBroker(authentication=True, log_path=workdir / "broker.log").start()
    except Exception as exc:
        missing_service(f"Tansu broker ({exc})")
        raise
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def password_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PasswordRedis]:
    """A redis-server of this test process's own that asks for a password (``redis_support``)."""
    with password_redis_server(tmp_path_factory.mktemp("password-redis")) as server:
        yield server
