"""django-q2 tasks of the rate limiter."""

from __future__ import annotations

from flashpay.ratelimit.services import ratelimit_purge


def ratelimit_purge_task() -> int:
    return ratelimit_purge()
