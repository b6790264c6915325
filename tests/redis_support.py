"""A redis-server of the test's own on a free loopback port, asking for a password, with an ACL
user who may read and not write: what a refused password or a refused command does is tested
against it, never against the Redis other tests share."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from tests_support import missing_service

from monitor.adapters.local_broker import free_port, wait_for_port

PASSWORD = "right-pw-secret"
READER, READER_PASSWORD = "reader", "reader-pw-secret"  # may read (and PING), not write
# may run every command, on keys under "elsewhere:" only (a user made for another prefix)
OUTSIDER, OUTSIDER_PASSWORD = "outsider", "outsider-pw-secret"


@dataclass(frozen=True)
class PasswordRedis:
    port: int
    process: subprocess.Popen

    def url(self, password: str | None = PASSWORD, user: str = "") -> str:
        """The URL of this Redis with ``password`` (None: no password at all)."""
        if password is None:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"redis://{user}:{password}@127.0.0.1:{self.port}/0"

    def admin(self, password: str = PASSWORD) -> redis.Redis:
        return redis.Redis.from_url(self.url(password))


def start_redis(workdir: Path, port: int, *options: str) -> subprocess.Popen:
    """redis-server on loopback ``port`` with ``options``, answering; the caller kills it by PID."""
    binary = shutil.which("redis-server")
    if not binary:
        missing_service("redis-server")
    log = workdir / f"redis-{port}.log"
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [binary, *args, *options], stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    if not wait_for_port("127.0.0.1", port, 10):
        process.kill()
        process.wait(10)
        missing_service(f"redis-server ({log.read_text()[-300:]})")
    return process


@contextmanager
def password_redis_server(workdir: Path) -> Iterator[PasswordRedis]:
    """Start redis-server with ``--requirepass`` and the read-only ACL user; killed by its PID at
    the end, whatever the test did to it."""
    port = free_port()
    process = start_redis(workdir, port, "--requirepass", PASSWORD)
    try:
        server = PasswordRedis(port, process)
        with server.admin() as admin:
            admin.acl_setuser(
                READER,
                enabled=True,
                passwords=[f"+{READER_PASSWORD}"],
                keys=["*"],
                commands=["+@read", "+ping", "+hello"],
            )
            admin.acl_setuser(
                OUTSIDER,
                enabled=True,
                passwords=[f"+{OUTSIDER_PASSWORD}"],
                keys=["elsewhere:*"],
                commands=["+@all"],
            )
        yield server
    finally:
        process.kill()
        process.wait(10)


@contextmanager
def primary_and_replica(workdir: Path) -> Iterator[tuple[int, int]]:
    """The ports of a redis-server and of its replica (``--replicaof``: it refuses writes with
    READONLY, as a primary demoted by a failover does); both killed by their PIDs at the end."""
    primary_port = free_port()
    primary = start_redis(workdir, primary_port)
    try:
        replica_port = free_port()  # once the primary holds its port
        replica = start_redis(workdir, replica_port, "--replicaof", "127.0.0.1", str(primary_port))
        try:
            yield primary_port, replica_port
        finally:
            replica.kill()
            replica.wait(10)
    finally:
        primary.kill()
        primary.wait(10)
