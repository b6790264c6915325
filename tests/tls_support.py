"""Throwaway TLS material and TLS front ends for tests: a CA, server and client certificates made
with the openssl CLI, and stunnel (Debian's stunnel4) terminating TLS in front of a loopback port."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests_support import missing_service

from monitor.adapters.local_broker import free_port, wait_for_port


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here: trusting only it must fail


def _openssl(*args: str) -> None:
    done = subprocess.run(
        ["openssl", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {done.stderr}")


def _ca(tmp: Path, name: str) -> tuple[Path, Path]:
    key, cert = tmp / f"{name}.key", tmp / f"{name}.pem"
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(cert),
        "-days",
        "2",
        "-subj",
        f"/CN={name}",
    )
    return cert, key


def _signed(tmp: Path, name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    key, csr, cert, ext = (
        tmp / f"{name}.key",
        tmp / f"{name}.csr",
        tmp / f"{name}.pem",
        tmp / f"{name}.ext",
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        f"/CN={name}",
    )
    ext.write_text(extensions)
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca[0]),
        "-CAkey",
        str(ca[1]),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "2",
        "-extfile",
        str(ext),
    )
    return cert, key


def make_certificates(tmp: Path) -> Certificates:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, all signed by it."""
    if not shutil.which("openssl"):
        missing_service("the openssl CLI")
    tmp.mkdir(parents=True, exist_ok=True)
    ca = _ca(tmp, "test-ca")
    other, _ = _ca(tmp, "other-ca")
    server = _signed(
        tmp,
        "server",
        ca,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    client = _signed(tmp, "client", ca, "extendedKeyUsage=clientAuth\n")
    return Certificates(ca[0], server[0], server[1], client[0], client[1], other)


def other_free_port(taken: int | None = None) -> int:
    """A free loopback port that is not ``taken`` (a TLS front end and its target need two)."""
    while True:
        port = free_port()
        if port != taken:
            return port


class Stunnel:
    """TLS on ``port`` in front of plaintext ``127.0.0.1:target``; with ``require_client_cert``
    only clients with a certificate signed by the CA get through (mutual TLS)."""

    def __init__(
        self,
        target: int,
        certs: Certificates,
        workdir: Path,
        *,
        port: int | None = None,
        require_client_cert: bool = False,
    ) -> None:
        self.target = target
        self.certs = certs
        self.workdir = workdir
        self.port = port or free_port()
        self.require_client_cert = require_client_cert
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Stunnel:
        binary = shutil.which("stunnel4") or shutil.which("stunnel")
        if not binary:
            missing_service("stunnel (apt-get install stunnel4)")
        verify = (
            f"verifyChain = yes\nCAfile = {self.certs.ca}\n" if self.require_client_cert else ""
        )
        config = self.workdir / f"stunnel-{self.port}.conf"
        config.write_text(
            f"foreground = yes\npid =\n[tls]\naccept = 127.0.0.1:{self.port}\n"
            f"connect = 127.0.0.1:{self.target}\ncert = {self.certs.server_cert}\n"
            f"key = {self.certs.server_key}\n{verify}"
        )
        log = (self.workdir / f"stunnel-{self.port}.log").open("ab")
        self._process = subprocess.Popen(
            [binary, str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        if not wait_for_port("127.0.0.1", self.port, 10) or self._process.poll() is not None:
            self.stop()
            raise RuntimeError(f"stunnel did not listen on {self.port}; see {log.name}")
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)
        self._process = None
