"""The rate limiter's one hand-written statement: count a hit with an upsert (PostgreSQL and SQLite)."""
from __future__ import annotations

from datetime import datetime

from django.db import connection

from flashpay.ratelimit.models import RateLimitCounter
from flashpay.sql import Names

_C = Names(RateLimitCounter)

# One statement per hit, whoever comes first in a window: the unique (key, window_start) turns a
# concurrent second INSERT into the increment. Names from the model, values bound.
_COUNT_HIT = (
    f"INSERT INTO {_C} ({_C.key}, {_C.window_start}, {_C.count}) VALUES (%s, %s, 1) "  # noqa: S608
    f"ON CONFLICT ({_C.key}, {_C.window_start}) DO UPDATE SET {_C.count} = {_C}.{_C.count} + 1 "
    f"RETURNING {_C.count}"
)


def counter_increment(*, key: str, window_start: datetime) -> int:
    """Add one hit to the counter of (key, window_start), created at 1; the new count."""
    with connection.cursor() as cursor:
        cursor.execute(_COUNT_HIT, [key, window_start])
        (count,) = cursor.fetchone()
    return count
