"""The rate limiter's upsert (flashpay/ratelimit/sql.py) writes the rows the ORM then reads."""
from datetime import UTC, datetime, timedelta

import pytest

from flashpay.ratelimit.models import RateLimitCounter
from flashpay.ratelimit.sql import counter_increment

pytestmark = pytest.mark.django_db


def test_the_first_hit_creates_the_counter_and_the_next_ones_add_to_it():
    window = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

    counts = [counter_increment(key="k", window_start=window) for _ in range(3)]
    other_key = counter_increment(key="other", window_start=window)
    next_window = counter_increment(key="k", window_start=window + timedelta(minutes=1))

    assert (counts, other_key, next_window) == ([1, 2, 3], 1, 1)
    assert sorted(RateLimitCounter.objects.values_list("key", "window_start", "count")) == [
        ("k", window, 3),
        ("k", window + timedelta(minutes=1), 1),
        ("other", window, 1),
    ]
