"""The background refresh: declared as a one-minute schedule, each run books a half-minute run."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django_q.models import Schedule

from flashpay.schedules import registered_schedules, schedules_sync, unregister_schedule
from invoices.rates.selectors import rate_get
from invoices.rates.tasks import (
    FOLLOW_UP_NAME,
    rates_refresh_follow_up_task,
    rates_refresh_task,
    rates_schedules_register,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def registered():
    already = any(t.name == "rates.refresh" for t in registered_schedules())
    rates_schedules_register()
    yield
    if not already:  # leave the process-wide registry as other tests found it
        unregister_schedule("rates.refresh")


def test_refresh_is_declared_every_minute_and_synced_to_django_q(registered):

    declared = {t.name: t for t in registered_schedules()}
    assert declared["rates.refresh"].func == "invoices.rates.tasks.rates_refresh_task"
    assert declared["rates.refresh"].minutes == 1
    schedules_sync()
    row = Schedule.objects.get(name="flashpay:rates.refresh")
    assert (row.func, row.schedule_type, row.minutes, row.repeats) == (
        "invoices.rates.tasks.rates_refresh_task", Schedule.MINUTES, 1, -1,
    )


def test_each_run_refreshes_and_books_one_run_half_a_minute_later(rates_settings, rate_server):
    rate_server.serve_real_answers()
    rates_settings.RATES_SOURCES = ["kraken", "coingecko"]
    before = timezone.now()

    summary = rates_refresh_task()
    rates_refresh_task()  # a second run (or a repeated delivery) books no second follow-up

    assert [s["source"] for s in summary] == ["kraken", "coingecko"]
    assert all(s["error"] is None for s in summary)
    assert rate_get(pair="BTC_USD").bid == Decimal("67210.00000")
    [follow_up] = Schedule.objects.filter(name=FOLLOW_UP_NAME)
    assert follow_up.func == "invoices.rates.tasks.rates_refresh_follow_up_task"
    assert follow_up.schedule_type == Schedule.ONCE and follow_up.repeats == -1
    assert before + timedelta(seconds=30) <= follow_up.next_run <= timezone.now() + timedelta(seconds=30)


def test_follow_up_run_refreshes_without_booking_another(rates_settings, rate_server):
    rate_server.serve_real_answers()
    rates_settings.RATES_SOURCES = ["bitstamp"]

    summary = rates_refresh_follow_up_task()

    assert summary[0]["source"] == "bitstamp" and sorted(summary[0]["pairs"]) == ["BTC_EUR", "BTC_GBP", "BTC_USD"]
    assert not Schedule.objects.filter(name=FOLLOW_UP_NAME).exists()


def test_failing_source_shows_in_the_task_result(rates_settings, rate_server):
    rates_settings.RATES_SOURCES = ["kraken"]
    rate_server.serve("/0/public/Ticker", "down", status=503)

    [summary] = rates_refresh_task()

    assert summary == {"source": "kraken", "pairs": [], "error": f"HTTP 503 from {rate_server.url}/0/public/Ticker"}
