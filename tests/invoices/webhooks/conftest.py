"""A real HTTP receiver on loopback that checks BTCPay-Sig, a controllable clock, and event helpers."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from flashpay.events.services import event_emit
from flashpay.events.tasks import dispatch_event


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    raw: bytes
    signature_valid: bool

    @property
    def json(self) -> dict:
        return json.loads(self.raw)


@dataclass
class Receiver:
    """Records every POST; answers with the queued status codes per path (then 200)."""

    base_url: str = ""
    secret: str | None = None
    requests: list[Received] = field(default_factory=list)
    codes: dict[str, deque] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return self.base_url + path

    def answer(self, path: str, *codes: int) -> None:
        self.codes.setdefault(path, deque()).extend(codes)

    def received(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]


def _verify(secret: str | None, raw: bytes, header: str | None) -> bool:
    if secret is None or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256="):])


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                state.requests.append(
                    Received(
                        path=self.path,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        raw=raw,
                        signature_valid=_verify(state.secret, raw, self.headers.get("BTCPay-Sig")),
                    )
                )
                queued = state.codes.get(self.path)
                code = queued.popleft() if queued else 200
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


class Clock:
    """Moves ``timezone.now()`` forward without sleeping (retries are due by the database's rows)."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    # Ahead of the real clock: rows stamped by model defaults (real time) are already due.
    fake = Clock(timezone.now() + timedelta(minutes=1))
    monkeypatch.setattr(timezone, "now", fake)
    return fake


def invoice_event(*, store_id: str, type: str = "InvoiceSettled", invoice_id: str = "INV1",
                  metadata: dict | None = None, extra: dict | None = None):
    """Emit an invoice event as the invoices app does (the Greenfield webhook body minus delivery fields)."""
    payload = {
        "type": type,
        "timestamp": 1764169200,
        "storeId": store_id,
        "invoiceId": invoice_id,
        "metadata": metadata if metadata is not None else {"orderId": "order-42"},
        **(extra or {}),
    }
    return event_emit(type=type, aggregate_type="invoice", aggregate_id=invoice_id, payload=payload)


def deliver(event) -> None:
    """Run the outbox handlers of one event now (what the worker does after commit)."""
    dispatch_event(event.pk)


@pytest.fixture(autouse=True)
def loopback_receivers_allowed(settings):
    # The receivers here listen on 127.0.0.1; the SSRF guard has its own tests (test_egress.py).
    settings.WEBHOOKS_BLOCK_PRIVATE_NETWORKS = False
