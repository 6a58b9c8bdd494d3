"""Outgoing connections for webhooks that can refuse private, loopback and link-local addresses (SSRF guard).

The check runs where the socket is opened, on the address actually connected to, so a DNS answer
that changes between a check and the connection (DNS rebinding) cannot slip through; TLS still
verifies the certificate against the URL's host name.
"""
from __future__ import annotations

import ipaddress
import socket

import httpcore
import httpx
from httpcore._backends.sync import SyncBackend


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class PublicOnlyBackend(SyncBackend):
    """httpcore's socket backend, connecting only to public addresses of the host."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}")
        addresses = [info[4][0] for info in infos]
        public = [a for a in addresses if address_is_public(a)]
        if not public:
            raise httpcore.ConnectError(
                f"refused to connect to {host}: it resolves to a private or local address"
            )
        return super().connect_tcp(public[0], port, timeout, local_address, socket_options)


def webhook_client(*, timeout: float, block_private_networks: bool) -> httpx.Client:
    """The HTTP client for one delivery attempt: no redirects, a timeout, and the SSRF guard if asked."""
    transport = httpx.HTTPTransport()
    if block_private_networks:
        # httpx 0.28 takes no network backend argument; its pool is httpcore's ConnectionPool.
        transport._pool._network_backend = PublicOnlyBackend()
    return httpx.Client(timeout=timeout, follow_redirects=False, transport=transport)
