"""The one place that builds bitcoind JSON-RPC clients from the BITCOIND_* settings.

``bitcoind_client`` is the watch-only wallet's client, one per configuration and process (httpx
clients are thread-safe, and one per invoice would cost a TCP handshake each time); a caller that
owns a client's lifetime (the watcher, a hot-wallet payout, a reachability check) opens its own
with ``bitcoind_client_open`` and closes it.
"""
from __future__ import annotations

import threading

from django.conf import settings

from invoices.onchain.rpc import BitcoindClient

_lock = threading.Lock()
_clients: dict[tuple, BitcoindClient] = {}


def bitcoind_client_open(*, wallet: str | None = None, timeout: float = 15.0) -> BitcoindClient:
    """A new client configured by BITCOIND_* (see .env.example), on BITCOIND_WALLET unless another
    ``wallet`` is named (the devnode's, or a settlement hot wallet). The caller closes it."""
    user, password = settings.BITCOIND_RPCUSER or None, settings.BITCOIND_RPCPASSWORD or None
    return BitcoindClient(
        settings.BITCOIND_URL,
        rpcuser=user,
        rpcpassword=password,
        # rpcuser/rpcpassword win; the cookie file is the fallback.
        cookie_file=None if user and password else (settings.BITCOIND_COOKIE_FILE or None),
        wallet=wallet or settings.BITCOIND_WALLET,
        timeout=timeout,
    )


def bitcoind_client() -> BitcoindClient:
    """The watch-only wallet's client, shared by the whole process (one per configuration)."""
    key = (
        settings.BITCOIND_URL,
        settings.BITCOIND_RPCUSER,
        settings.BITCOIND_RPCPASSWORD,
        settings.BITCOIND_COOKIE_FILE,
        settings.BITCOIND_WALLET,
    )
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = bitcoind_client_open()
        return client


def bitcoind_clients_forget() -> None:
    """Close and drop the shared clients (tests that start and stop devnodes; settings changes)."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()
