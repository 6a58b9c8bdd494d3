"""The shared fixed-window limiter: counting per key and window, Retry-After, purge and its schedule."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from flashpay.ratelimit import tasks
from flashpay.ratelimit.models import RateLimitCounter
from flashpay.ratelimit.services import RateLimited, ratelimit_enforce, ratelimit_hit
from flashpay.schedules import registered_schedules

pytestmark = pytest.mark.django_db


@pytest.fixture
def now(monkeypatch):
    """A settable clock, 15 s into a minute."""
    current = [datetime(2026, 3, 2, 12, 0, 15, tzinfo=UTC)]
    monkeypatch.setattr(timezone, "now", lambda: current[0])
    return current


def test_hits_over_the_limit_are_refused_until_the_window_ends(now):
    assert [ratelimit_hit(key="k", limit=2) for _ in range(3)] == [True, True, False]
    assert ratelimit_hit(key="other", limit=2)  # keys count apart
    now[0] += timedelta(seconds=44)  # 12:00:59, same window
    assert not ratelimit_hit(key="k", limit=2)
    now[0] += timedelta(seconds=1)  # 12:01:00, a new window
    assert ratelimit_hit(key="k", limit=2)


def test_a_limit_of_zero_counts_nothing(now):
    assert all(ratelimit_hit(key="k", limit=0) for _ in range(5))
    ratelimit_enforce(key="k", limit=0, message="no")
    assert not RateLimitCounter.objects.exists()


def test_enforce_says_how_long_to_wait(now):
    ratelimit_enforce(key="k", limit=1, message="slow down")
    with pytest.raises(RateLimited) as refused:
        ratelimit_enforce(key="k", limit=1, message="slow down")
    assert (refused.value.status_code, refused.value.message, refused.value.retry_after) == (429, "slow down", 45)


def test_purge_drops_finished_windows_only(now):
    ratelimit_hit(key="old", limit=5)
    now[0] += timedelta(hours=2)
    ratelimit_hit(key="new", limit=5)
    assert tasks.ratelimit_purge_task() == 1
    assert list(RateLimitCounter.objects.values_list("key", flat=True)) == ["new"]
    declared = {task.name: task.func for task in registered_schedules()}
    assert declared["ratelimit.purge"] == "flashpay.ratelimit.tasks.ratelimit_purge_task"
