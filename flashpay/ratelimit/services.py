"""Count hits per key in fixed windows (one upsert per hit in PostgreSQL) and refuse those over a limit."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from flashpay.errors import ApplicationError
from flashpay.ratelimit.models import RateLimitCounter
from flashpay.ratelimit.sql import counter_increment

WINDOW_SECONDS = 60
_KEY_LENGTH = RateLimitCounter._meta.get_field("key").max_length


class RateLimited(ApplicationError):
    """Over a limit; ``retry_after`` is the whole seconds until the window ends (HTTP Retry-After)."""

    code = "rate-limited"
    status_code = 429

    def __init__(self, message: str, *, retry_after: int, code: str | None = None):
        super().__init__(message, code=code)
        self.retry_after = retry_after


def _window(now: datetime, window_seconds: int) -> tuple[datetime, int]:
    """The current window's start and the seconds left in it (at least 1)."""
    epoch = int(now.timestamp())
    into = epoch % window_seconds
    return datetime.fromtimestamp(epoch - into, tz=now.tzinfo), window_seconds - into


def _count_hit(*, key: str, window_start: datetime) -> int:
    # A key longer than the column is cut to its length, as it always was.
    return counter_increment(key=key[:_KEY_LENGTH], window_start=window_start)


def ratelimit_hit(*, key: str, limit: int, window_seconds: int = WINDOW_SECONDS) -> bool:
    """Count one hit for ``key`` in the current window; False when it is over ``limit``.

    A limit of 0 (or less) disables the check. Hits are counted even when refused, so a client
    hammering the endpoint stays refused until the window ends.
    """
    if limit <= 0:
        return True
    start, _left = _window(timezone.now(), window_seconds)
    return _count_hit(key=key, window_start=start) <= limit


def ratelimit_enforce(*, key: str, limit: int, message: str, window_seconds: int = WINDOW_SECONDS) -> None:
    """Like :func:`ratelimit_hit`, but raise :class:`RateLimited` (with its Retry-After) when over."""
    if limit <= 0:
        return
    start, left = _window(timezone.now(), window_seconds)
    if _count_hit(key=key, window_start=start) > limit:
        raise RateLimited(message, retry_after=left)


def ratelimit_retry_after(*, window_seconds: int = WINDOW_SECONDS) -> int:
    """Whole seconds until the current window ends: the Retry-After of a refusal by ratelimit_hit."""
    return _window(timezone.now(), window_seconds)[1]


def ratelimit_purge(*, older_than_seconds: int = 3600) -> int:
    """Drop the counters of finished windows (run by a schedule); how many went."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    deleted, _ = RateLimitCounter.objects.filter(window_start__lt=cutoff).delete()
    return deleted
