"""Alert sinks with bearer tokens, custom headers and a private CA, against a loopback HTTPS receiver."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tls_support import Certificates, make_certificates

from monitor.adapters.alert_sinks import AlertmanagerSink, DeliveryQueue, WebhookSink
from monitor.alerts.state import Alert
from monitor.services.alert_delivery import build_sinks
from monitor.settings import Settings

TOKEN = "tok-Secret-123"
API_KEY = "key-Secret-456"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("sink-tls"))


class HttpsReceiver:
    def __init__(self, certs: Certificates) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                posts.append((self.path, dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certs.server_cert, certs.server_key)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver(certs: Certificates) -> Iterator[HttpsReceiver]:
    server = HttpsReceiver(certs)
    yield server
    server.stop()


ALERT = Alert.firing("takeover", "critical", "chat", "v2", 600.0, "too many takeovers")


def deliver(sinks: list, alert: Alert = ALERT, attempts: int = 1) -> DeliveryQueue:
    async def run() -> DeliveryQueue:
        queue = DeliveryQueue(sinks, max_attempts=attempts, base_delay=0.01, max_delay=0.02)
        queue.enqueue(alert)
        await queue.close(timeout=15)
        return queue

    return asyncio.run(run())


def test_configured_sinks_send_token_and_headers_over_tls(
    receiver: HttpsReceiver, certs: Certificates
) -> None:
    settings = Settings(
        alertmanager_url=receiver.url,
        alertmanager_token=TOKEN,
        alert_webhook_url=f"{receiver.url}/hook",
        alert_webhook_token=TOKEN,
        alert_webhook_headers={"X-Api-Key": API_KEY},
        alert_webhook_secret="hmac",
        alert_sink_ssl_ca_file=str(certs.ca),
        alerts_to_kafka=False,
    )
    sinks = [s for s in build_sinks(settings, send_to_kafka=None) if s.name != "log"]  # type: ignore[arg-type]
    assert [s.name for s in sinks] == ["alertmanager", "webhook"]
    queue = deliver(sinks)
    assert queue.delivered == {"alertmanager": 1, "webhook": 1}
    by_path = {path: (headers, body) for path, headers, body in receiver.posts}
    am_headers, am_body = by_path["/api/v2/alerts"]
    assert am_headers["Authorization"] == f"Bearer {TOKEN}" and "X-Api-Key" not in am_headers
    assert json.loads(am_body)[0]["labels"]["alertname"] == "takeover"
    hook_headers, _ = by_path["/hook"]
    assert (
        hook_headers["Authorization"] == f"Bearer {TOKEN}" and hook_headers["X-Api-Key"] == API_KEY
    )
    assert hook_headers["X-Monitor-Signature"].startswith("sha256=")
    assert TOKEN not in repr(settings) and API_KEY not in repr(settings)


def test_an_untrusted_receiver_is_refused_and_the_log_masks_the_url(
    receiver: HttpsReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"https://user:{TOKEN}@127.0.0.1:{receiver.url.rsplit(':', 1)[1]}/hook?token={API_KEY}"
    with caplog.at_level(logging.WARNING):
        queue = deliver([WebhookSink(url)])  # system CAs only: our private CA is not among them
    assert queue.delivered == {"webhook": 0} and queue.failures == {"webhook": 1}
    assert receiver.posts == []
    text = caplog.text
    assert "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text
    assert TOKEN not in text and API_KEY not in text


def test_a_sink_with_the_private_ca_delivers(receiver: HttpsReceiver, certs: Certificates) -> None:
    context = ssl.create_default_context(cafile=str(certs.ca))
    queue = deliver(
        [
            AlertmanagerSink(
                receiver.url, headers={"Authorization": f"Bearer {TOKEN}"}, ssl_context=context
            )
        ]
    )
    assert queue.delivered == {"alertmanager": 1}
    assert receiver.posts[0][1]["Authorization"] == f"Bearer {TOKEN}"


class Redirecting:
    """A plain HTTP server on loopback: ``to`` set, it answers every POST with a 307 there; else it
    records the POST and answers 200."""

    def __init__(self, to: str | None = None) -> None:
        self.posts: list[dict[str, str]] = []
        posts, target = self.posts, to

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                posts.append(dict(self.headers))
                self.send_response(307 if target else 200)
                if target:
                    self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://localhost:{self.server.server_address[1]}/collect"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_redirect_takes_no_secret_header_elsewhere() -> None:
    """Before: aiohttp followed the receiver's 307 to another host with the custom headers (an API
    key) and the body; now the delivery fails as any answer of 300 or more does."""
    elsewhere = Redirecting()
    receiver = Redirecting(to=elsewhere.url)
    try:
        url = receiver.url.replace("localhost", "127.0.0.1")
        queue = deliver([WebhookSink(url, headers={"X-Api-Key": API_KEY})])
    finally:
        receiver.stop()
        elsewhere.stop()
    assert len(receiver.posts) == 1 and receiver.posts[0]["X-Api-Key"] == API_KEY
    assert elsewhere.posts == []
    assert queue.delivered == {"webhook": 0} and queue.failures == {"webhook": 1}
