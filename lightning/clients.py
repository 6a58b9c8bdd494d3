"""The one place that builds Lightning node clients, and keeps one per node for the process.

A client is built from a connection string in BTCPay's syntax (``lightning.connection``): the
server's own node from LIGHTNING_CONNECTION_STRING, a store's own node from the connection string
of its BTC-LN method. gRPC channels and Core Lightning connections multiplex calls and are
thread-safe, so the cached clients are shared by every request and thread of the process (a
client per call would cost a TLS handshake each time). A caller that owns a client's lifetime (a
subscription it ends by closing, a short reachability check) opens its own with
``lightning_client_open`` and closes it.
"""
from __future__ import annotations

import threading
from pathlib import Path

from django.conf import settings

from lightning.backends.base import LightningBackend
from lightning.connection import ClnConfig, parse_connection_string
from lightning.errors import ConnectionStringError

_lock = threading.Lock()
# (connection string, timeout) -> client; a settings change (tests) gets a client of its own.
_clients: dict[tuple[str, float], LightningBackend] = {}


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise ConnectionStringError(f"cannot read the {what} file {path}: {exc.strerror or exc}")


def _build(text: str, timeout: float) -> LightningBackend:
    config = parse_connection_string(text)
    if isinstance(config, ClnConfig):
        from lightning.backends.cln import ClnBackend

        return ClnBackend(socket_path=config.socket_path, host=config.host, port=config.port, timeout=timeout)
    from lightning.backends.lnd import LndBackend

    macaroon = bytes.fromhex(config.macaroon_hex) if config.macaroon_hex else _read(config.macaroon_path, "macaroon")
    cert = _read(config.cert_path, "TLS certificate") if config.cert_path else None
    if cert is not None and b"-----BEGIN CERTIFICATE-----" not in cert:
        raise ConnectionStringError(f"{config.cert_path} is not a PEM certificate")
    return LndBackend(
        server=config.server,
        macaroon=macaroon,
        cert_pem=cert,
        cert_thumbprint=config.cert_thumbprint,
        timeout=timeout,
    )


def lightning_client_open(
    *, connection_string: str | None = None, timeout: float | None = None
) -> LightningBackend:
    """A new client of its own for ``connection_string`` (default: the server's node,
    LIGHTNING_CONNECTION_STRING), with LIGHTNING_TIMEOUT unless ``timeout`` is given. The caller
    closes it. ConnectionStringError when the string or the files it names are unusable."""
    text = connection_string or settings.LIGHTNING_CONNECTION_STRING
    return _build(text, settings.LIGHTNING_TIMEOUT if timeout is None else timeout)


def _cached(text: str) -> LightningBackend:
    key = (text, float(settings.LIGHTNING_TIMEOUT))
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _build(text, key[1])
        return client


def server_node_client() -> LightningBackend:
    """The server's own node (LIGHTNING_CONNECTION_STRING), one shared client per process."""
    return _cached(settings.LIGHTNING_CONNECTION_STRING)


def store_node_client(*, connection_string: str) -> LightningBackend:
    """A merchant's own node, by the connection string of its store's BTC-LN method; one shared
    client per connection string and process."""
    return _cached(connection_string)


def lightning_clients_forget() -> None:
    """Close and drop the shared clients (tests that start and stop devnodes; settings changes)."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()
