"""A redis-server of the test's own on a free loopback port, asking for a password, with an ACL
user who may read and not write: what a refused password or a refused command does is tested
against it, never against the Redis other tests share."""

from __future__ import annotations

import shutil
import subprocess
import time
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


@dataclass(frozen=True)
class ClusterNodes:
    """Two Redis Cluster nodes: ``serving`` holds every slot, ``empty`` none (it redirects)."""

    serving: int
    empty: int

    def url(self, port: int) -> str:
        return f"redis://127.0.0.1:{port}/0"

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port)


def _cluster_node(workdir: Path) -> tuple[int, int, subprocess.Popen]:
    """The port, the cluster bus port and the process of a new cluster node."""
    port, bus = free_port(), free_port()
    config = workdir / f"nodes-{port}.conf"
    cluster = ["--cluster-enabled", "yes", "--cluster-port", str(bus)]
    return port, bus, start_redis(workdir, port, *cluster, "--cluster-config-file", str(config))


@contextmanager
def redis_cluster_nodes(workdir: Path) -> Iterator[ClusterNodes]:
    """A two-node Redis Cluster on loopback whose first node serves every slot and whose second
    knows it (``CLUSTER MEET``): the second answers a key command with ``MOVED``. Both killed by
    their PIDs at the end."""
    processes: list[subprocess.Popen] = []
    try:
        serving, bus, process = _cluster_node(workdir)
        processes.append(process)
        empty, _, process = _cluster_node(workdir)
        processes.append(process)
        nodes = ClusterNodes(serving, empty)
        with nodes.node(serving) as first, nodes.node(empty) as second:
            first.execute_command("CLUSTER ADDSLOTSRANGE", 0, 16383)
            second.execute_command("CLUSTER MEET", "127.0.0.1", serving, bus)
            deadline = time.monotonic() + 20
            while second.execute_command("CLUSTER INFO")["cluster_state"] != "ok":
                if time.monotonic() > deadline:
                    missing_service("a redis-server cluster node that learns its peer's slots")
                time.sleep(0.1)
        yield nodes
    finally:
        for process in processes:
            process.kill()
            process.wait(10)
