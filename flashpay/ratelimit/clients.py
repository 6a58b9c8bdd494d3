"""Who is asking: the client address that per-IP limits count."""

from __future__ import annotations


def client_ip(request) -> str | None:
    # REMOTE_ADDR only: the reverse proxy in front must set it to the client (never trust
    # X-Forwarded-For from anyone), or every client shares one per-IP limit.
    return request.META.get("REMOTE_ADDR") or None
