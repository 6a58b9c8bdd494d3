"""A fixed-window rate limiter shared by every web process (one upsert per hit in PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.utils import timezone

from cards.models import RateLimitCounter

WINDOW_SECONDS = 60


def _window_start(now, window_seconds: int):
    epoch = int(now.timestamp())
    return now.fromtimestamp(epoch - epoch % window_seconds, tz=now.tzinfo)


def ratelimit_hit(*, key: str, limit: int, window_seconds: int = WINDOW_SECONDS) -> bool:
    """Count one hit for ``key`` in the current window; False when it is over ``limit``.

    A limit of 0 (or less) disables the check. Hits are counted even when refused, so a client
    hammering the endpoint stays refused until the window ends.
    """
    if limit <= 0:
        return True
    start = _window_start(timezone.now(), window_seconds)
    table = RateLimitCounter._meta.db_table
    with connection.cursor() as cursor:
        # Built from the model's table name, never from input; values are bound parameters.
        cursor.execute(
            f"INSERT INTO {table} (key, window_start, count) VALUES (%s, %s, 1) "  # noqa: S608
            "ON CONFLICT (key, window_start) DO UPDATE SET count = "
            f"{table}.count + 1 RETURNING count",
            [key[:120], start],
        )
        (count,) = cursor.fetchone()
    return count <= limit


def ratelimit_purge(*, older_than_seconds: int = 3600) -> int:
    """Drop finished windows and expired unused tap offers (run by a schedule); how many went."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    deleted, _ = RateLimitCounter.objects.filter(window_start__lt=cutoff).delete()
    # Offers of taps that were never paid with: dead once expired (the tap log keeps the tap).
    from cards.models import WithdrawRequest

    offers, _ = WithdrawRequest.objects.filter(used_at__isnull=True, expires_at__lt=cutoff).delete()
    return deleted + offers
