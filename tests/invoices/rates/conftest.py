"""Fixtures for the rates tests: a local HTTP server that answers as the exchanges do."""
from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

DATA = Path(__file__).parent / "data"


def sample(name: str) -> bytes:
    """A stored answer in the exchange's real response shape."""
    return (DATA / name).read_bytes()


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0
    content_type: str = "application/json"


class RateServer:
    """Serves ``Answer``s by path (query ignored) and records every request path with its query."""

    def __init__(self):
        self.answers: dict[str, Answer] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                answer = server.answers.get(urlsplit(self.path).path, Answer(404, b'{"error": "not found"}'))
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", answer.content_type)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def serve(self, path: str, body: bytes | str, *, status: int = 200, delay: float = 0.0) -> None:
        if isinstance(body, str):
            body = body.encode()
        self.answers[path] = Answer(status=status, body=body, delay=delay)

    def serve_real_answers(self) -> None:
        self.serve("/0/public/Ticker", sample("kraken_ticker.json"))
        for pair in ("btcusd", "btceur", "btcgbp"):
            self.serve(f"/api/v2/ticker/{pair}/", sample(f"bitstamp_{pair}.json"))
        self.serve("/api/v3/exchange_rates", sample("coingecko_exchange_rates.json"))


@pytest.fixture
def rate_server():
    server = RateServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def rates_settings(settings, rate_server):
    """All sources pointed at the local server, a private in-memory rates cache, no fixed rates."""
    settings.CACHES = {
        **settings.CACHES,
        "rates": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"rates-test-{uuid.uuid4()}",
        },
    }
    settings.RATES_KRAKEN_URL = rate_server.url
    settings.RATES_BITSTAMP_URL = rate_server.url
    settings.RATES_COINGECKO_URL = rate_server.url
    settings.RATES_KRAKEN_PAIRS = ["BTC_USD", "BTC_EUR", "BTC_GBP", "BTC_CAD"]
    settings.RATES_BITSTAMP_PAIRS = ["BTC_USD", "BTC_EUR", "BTC_GBP"]
    settings.RATES_SOURCES = ["fixed", "kraken", "bitstamp", "coingecko"]
    settings.RATES_CROSS_VIA = ["USD", "EUR", "BTC"]
    settings.RATES_FIXED = {}
    settings.RATES_VALID_SECONDS = 600
    settings.RATES_HTTP_TIMEOUT = 2.0
    return settings
