"""django-q2 tasks of the rates package: the background refresh, about every 30 seconds."""
from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from flashpay.schedules import register_schedule

from .services import rates_refresh

SCHEDULE_NAME = "rates.refresh"
# django-q2 schedules have minute granularity, so each minute's run books one extra run half a
# minute later as a ONCE schedule (deleted by django-q2 after it runs). The scheduler looks for
# due schedules about every 30 s, so the real period is 30-60 s: far inside the 10 minutes a rate
# stays valid. The name is outside sync_schedules' "flashpay:" prefix, so a sync leaves it alone.
FOLLOW_UP_NAME = "rates:refresh-half-minute"
FOLLOW_UP_DELAY = timedelta(seconds=30)


def rates_schedules_register() -> None:
    """Declare the every-minute refresh; call from ``InvoicesConfig.ready()``."""
    register_schedule(SCHEDULE_NAME, "invoices.rates.tasks.rates_refresh_task", minutes=1)


def _summary(results) -> list[dict]:
    return [{"source": r.source, "pairs": list(r.pairs), "error": r.error} for r in results]


def rates_refresh_task() -> list[dict]:
    """The every-minute run: refresh every enabled source, then book the half-minute run.

    Idempotent: a repeated delivery only stores newer quotes.
    """
    results = rates_refresh()
    rates_follow_up_book()
    return _summary(results)


def rates_refresh_follow_up_task() -> list[dict]:
    """The half-minute run booked by ``rates_refresh_task``; books nothing itself."""
    return _summary(rates_refresh())


def rates_follow_up_book() -> Schedule | None:
    """Book one refresh 30 s from now unless one is already waiting; returns the new row."""
    with transaction.atomic():
        if Schedule.objects.filter(name=FOLLOW_UP_NAME).exists():
            return None
        schedule = Schedule(
            name=FOLLOW_UP_NAME,
            func="invoices.rates.tasks.rates_refresh_follow_up_task",
            schedule_type=Schedule.ONCE,
            repeats=-1,
            next_run=timezone.now() + FOLLOW_UP_DELAY,
        )
        schedule.full_clean()
        schedule.save()
    return schedule
