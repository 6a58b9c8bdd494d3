"""Lightning connection strings in BTCPay's syntax (`type=lnd-grpc;server=...`); lightning.clients builds clients from them."""
from __future__ import annotations

import re
from dataclasses import dataclass

from lightning.errors import ConnectionStringError

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_ALLOWED_KEYS = {
    "lnd-grpc": {"type", "server", "macaroon", "macaroonfilepath", "certpath", "certfilepath", "certthumbprint"},
    "clightning": {"type", "server"},
}


@dataclass(frozen=True)
class LndGrpcConfig:
    server: str  # host:port
    macaroon_hex: str | None
    macaroon_path: str | None
    cert_path: str | None
    cert_thumbprint: str | None


@dataclass(frozen=True)
class ClnConfig:
    socket_path: str | None  # unix://
    host: str | None  # tcp://host:port
    port: int | None


def parse_pairs(text: str) -> dict[str, str]:
    if not isinstance(text, str) or not text.strip():
        raise ConnectionStringError("the Lightning connection string is empty")
    pairs: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise ConnectionStringError(f"expected key=value in the connection string, got {key or part[:20]!r}")
        if key in pairs:
            raise ConnectionStringError(f"{key!r} appears twice in the connection string")
        pairs[key] = value.strip()
    if "type" not in pairs:
        raise ConnectionStringError("the connection string has no type (type=lnd-grpc or type=clightning)")
    kind = pairs["type"].lower()
    if kind not in _ALLOWED_KEYS:
        raise ConnectionStringError(
            f"unsupported Lightning type {pairs['type']!r}: use lnd-grpc or clightning"
        )
    pairs["type"] = kind
    unknown = sorted(set(pairs) - _ALLOWED_KEYS[kind])
    if unknown:
        raise ConnectionStringError(f"unknown key(s) for {kind}: {', '.join(unknown)}")
    if not pairs.get("server"):
        raise ConnectionStringError(f"{kind} needs server=...")
    return pairs


def _host_port(value: str) -> tuple[str, int]:
    match = re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-]+):(\d{1,5})", value)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise ConnectionStringError(f"server must be host:port, got {value!r}")
    return match.group(1), int(match.group(2))


def parse_connection_string(text: str) -> LndGrpcConfig | ClnConfig:
    pairs = parse_pairs(text)
    server = pairs["server"]
    if pairs["type"] == "clightning":
        if server.startswith("unix://"):
            path = server[len("unix://"):]
            if not path:
                raise ConnectionStringError("clightning server=unix:// needs the socket path")
            return ClnConfig(socket_path=path, host=None, port=None)
        if server.startswith("tcp://"):
            host, port = _host_port(server[len("tcp://"):])
            return ClnConfig(socket_path=None, host=host, port=port)
        raise ConnectionStringError("clightning server must be unix://<path> or tcp://<host>:<port>")
    # lnd-grpc: gRPC is always TLS; a scheme is accepted for symmetry with BTCPay's lnd-rest.
    for scheme in ("https://", "grpcs://"):
        if server.startswith(scheme):
            server = server[len(scheme):]
    if "://" in server:
        raise ConnectionStringError("lnd-grpc server must be host:port (LND's gRPC always uses TLS)")
    host, port = _host_port(server.rstrip("/"))
    macaroon, macaroon_path = pairs.get("macaroon"), pairs.get("macaroonfilepath")
    if bool(macaroon) == bool(macaroon_path):
        raise ConnectionStringError("lnd-grpc needs exactly one of macaroon=<hex> or macaroonfilepath=<path>")
    if macaroon and not _HEX.match(macaroon):
        raise ConnectionStringError("macaroon must be hex")
    cert_path = pairs.get("certpath") or pairs.get("certfilepath")
    thumbprint = pairs.get("certthumbprint")
    if cert_path and thumbprint:
        raise ConnectionStringError("give certpath or certthumbprint, not both")
    if thumbprint is not None:
        cleaned = thumbprint.replace(":", "")
        if len(cleaned) != 64 or not _HEX.match(cleaned):
            raise ConnectionStringError("certthumbprint must be the SHA-256 of the certificate (64 hex)")
    return LndGrpcConfig(
        server=f"{host}:{port}",
        macaroon_hex=macaroon,
        macaroon_path=macaroon_path,
        cert_path=cert_path,
        cert_thumbprint=thumbprint,
    )
