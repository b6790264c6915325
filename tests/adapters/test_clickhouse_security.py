"""ClickHouse TLS settings reach clickhouse-connect's TLS layer.

No ClickHouse server runs here, so a loopback HTTPS server that requires a client certificate
stands in for one: with the right CA and client certificate the TLS handshake completes and the
server sees clickhouse-connect's first HTTP request (which it then refuses, as ClickHouse refuses
a wrong password); with another CA or without the certificate no request ever arrives.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tls_support import Certificates, make_certificates

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.client_security import clickhouse_client_options
from monitor.errors import ConfigError, StoreError
from monitor.settings import Settings

PASSWORD = "ch-Pa55word"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("ch-tls"))


class HttpsRecorder:
    def __init__(self, certs: Certificates) -> None:
        self.requests: list[str] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _refuse(self) -> None:
                requests.append(self.path)
                body = b"Code: 516. DB::Exception: default: Authentication failed. (AUTHENTICATION_FAILED)"
                self.send_response(403)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-ClickHouse-Exception-Code", "516")
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _refuse

            def log_message(self, *args: object) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certs.server_cert, certs.server_key)
        context.load_verify_locations(certs.ca)
        context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS, as a server with client certificates
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def https_server(certs: Certificates) -> Iterator[HttpsRecorder]:
    server = HttpsRecorder(certs)
    yield server
    server.stop()


def settings_for(port: int, certs: Certificates, **overrides: object) -> Settings:
    values = {
        "clickhouse_url": f"https://monitor@127.0.0.1:{port}/monitor",
        "clickhouse_password": PASSWORD,
        "clickhouse_ssl_ca_file": str(certs.ca),
        "clickhouse_ssl_cert_file": str(certs.client_cert),
        "clickhouse_ssl_key_file": str(certs.client_key),
    }
    return Settings(**{**values, **overrides})


def connect(settings: Settings) -> str:
    with pytest.raises(StoreError) as info:
        ClickHouseStore(settings.clickhouse_url, clickhouse_client_options(settings)).connect()
    message = str(info.value)
    assert PASSWORD not in message
    return message


def test_with_the_ca_and_client_certificate_the_request_reaches_the_server(
    https_server: HttpsRecorder, certs: Certificates
) -> None:
    message = connect(settings_for(https_server.port, certs))
    assert https_server.requests, "the TLS handshake did not complete"
    assert "AUTHENTICATION_FAILED" in message or "516" in message


@pytest.mark.parametrize("case", ["another CA", "no client certificate"])
def test_without_them_no_request_gets_through(
    https_server: HttpsRecorder, certs: Certificates, case: str
) -> None:
    overrides = {
        "another CA": {"clickhouse_ssl_ca_file": str(certs.other_ca)},
        "no client certificate": {
            "clickhouse_ssl_cert_file": None,
            "clickhouse_ssl_key_file": None,
        },
    }[case]
    connect(settings_for(https_server.port, certs, **overrides))
    assert https_server.requests == []


def test_the_password_setting_overrides_the_url_and_is_never_shown(certs: Certificates) -> None:
    settings = settings_for(8443, certs, clickhouse_url="https://u:old@ch.internal:8443/db")
    store = ClickHouseStore(settings.clickhouse_url, clickhouse_client_options(settings))
    options = store.server_options()
    assert (
        options["password"] == PASSWORD and options["username"] == "u" and options["secure"] is True
    )
    assert (
        options["ca_cert"],
        options["client_cert"],
        options["client_cert_key"],
        options["verify"],
    ) == (str(certs.ca), str(certs.client_cert), str(certs.client_key), True)
    assert PASSWORD not in repr(settings)


def test_tls_settings_need_an_https_url(certs: Certificates) -> None:
    assert clickhouse_client_options(Settings()) == {}
    with pytest.raises(ConfigError, match="need an https:// MONITOR_CLICKHOUSE_URL"):
        clickhouse_client_options(Settings(clickhouse_ssl_ca_file=str(certs.ca)))
    with pytest.raises(ConfigError, match="MONITOR_CLICKHOUSE_SSL_KEY_FILE is set without"):
        clickhouse_client_options(
            Settings(clickhouse_url="https://h/db", clickhouse_ssl_key_file=str(certs.ca))
        )
