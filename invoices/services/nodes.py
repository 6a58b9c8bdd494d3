"""Process-wide clients for the Bitcoin and Lightning nodes invoices talk to (reused across requests)."""
from __future__ import annotations

import threading

from django.conf import settings

from invoices.onchain.rpc import BitcoindClient
from lightning.backends.base import LightningBackend
from lightning.connection import backend_from_connection_string

_lock = threading.Lock()
_bitcoind: dict[tuple, BitcoindClient] = {}
_lightning: dict[str, LightningBackend] = {}


def bitcoind_client() -> BitcoindClient:
    """The watch-only wallet client from BITCOIND_* settings; one per configuration and process.

    Opening an HTTP client per invoice would cost a TCP handshake each time; httpx clients are
    thread-safe, so one is shared.
    """
    key = (
        settings.BITCOIND_URL,
        settings.BITCOIND_RPCUSER,
        settings.BITCOIND_RPCPASSWORD,
        settings.BITCOIND_COOKIE_FILE,
        settings.BITCOIND_WALLET,
    )
    with _lock:
        client = _bitcoind.get(key)
        if client is None:
            client = _bitcoind[key] = BitcoindClient.from_settings()
        return client


def lightning_backend(connection_string: str | None = None) -> LightningBackend:
    """A backend for ``connection_string`` (default: the server's own node), cached per string.

    gRPC channels multiplex calls and are thread-safe, so one channel per node is enough.
    """
    text = connection_string or settings.LIGHTNING_CONNECTION_STRING
    with _lock:
        backend = _lightning.get(text)
        if backend is None:
            backend = _lightning[text] = backend_from_connection_string(
                text, timeout=settings.LIGHTNING_TIMEOUT
            )
        return backend


def nodes_forget() -> None:
    """Close and drop the cached clients (tests that start and stop devnodes; settings changes)."""
    with _lock:
        for client in _bitcoind.values():
            client.close()
        for backend in _lightning.values():
            backend.close()
        _bitcoind.clear()
        _lightning.clear()
