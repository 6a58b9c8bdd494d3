"""Registry of periodic tasks that apps declare in AppConfig.ready(); synced to django-q2 Schedules.

    from flashpay.schedules import register_schedule
    register_schedule("rewards.mature", "rewards.tasks.rewards_mature", minutes=5)

``manage.py sync_schedules`` (run by the entrypoint and ``make run``) writes them as django_q
``Schedule`` rows named ``flashpay:<name>``: created if missing, updated if changed, and removed
when no longer declared. Schedules an operator adds by hand (other names) are left alone.
Intervals are whole minutes: the django-q2 scheduler itself only wakes every ~30 seconds.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from flashpay.sql import advisory_xact_lock

NAME_PREFIX = "flashpay:"
# Any fixed 64-bit number, unique among the project's advisory locks.
_SYNC_LOCK_KEY = 0x466C617368536368  # "FlashSch"
_DOTTED_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    func: str
    minutes: int


_registry: dict[str, PeriodicTask] = {}


def register_schedule(name: str, func: str, *, minutes: int) -> None:
    """Run the task at dotted path ``func`` every ``minutes`` minutes (re-registering replaces)."""
    if not name or len(NAME_PREFIX + name) > 100:
        raise ValueError(f"invalid schedule name {name!r}")
    if not _DOTTED_PATH.match(func):
        raise ValueError(f"func must be a dotted path like 'app.tasks.func', got {func!r}")
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 32767:
        raise ValueError("minutes must be a whole number of minutes between 1 and 32767")
    _registry[name] = PeriodicTask(name=name, func=func, minutes=minutes)


def unregister_schedule(name: str) -> None:
    _registry.pop(name, None)


def registered_schedules() -> list[PeriodicTask]:
    return sorted(_registry.values(), key=lambda t: t.name)


@dataclass(frozen=True)
class SyncResult:
    created: list[str]
    updated: list[str]
    deleted: list[str]
    unchanged: list[str]


def schedules_sync() -> SyncResult:
    """Make the django_q Schedule rows match the registry; running it again changes nothing."""
    from django_q.models import Schedule

    created, updated, deleted, unchanged = [], [], [], []
    wanted = {NAME_PREFIX + t.name: t for t in registered_schedules()}
    with transaction.atomic():
        # Serialised so two containers starting at once do not both create the same row.
        advisory_xact_lock(_SYNC_LOCK_KEY)
        existing = {
            s.name: s
            for s in Schedule.objects.filter(name__startswith=NAME_PREFIX).order_by("pk")
        }
        for name, row in existing.items():
            if name not in wanted:
                row.delete()
                deleted.append(name)
        for name, task in wanted.items():
            row = existing.get(name)
            if row is None:
                row = Schedule(
                    name=name,
                    func=task.func,
                    schedule_type=Schedule.MINUTES,
                    minutes=task.minutes,
                    repeats=-1,
                    next_run=timezone.now(),
                )
                row.full_clean()
                row.save()
                created.append(name)
                continue
            fields = {
                "func": task.func,
                "schedule_type": Schedule.MINUTES,
                "minutes": task.minutes,
                "repeats": -1,
                "args": None,
                "kwargs": None,
            }
            changed = [f for f, value in fields.items() if getattr(row, f) != value]
            if not changed:
                unchanged.append(name)
                continue
            for f in changed:
                setattr(row, f, fields[f])
            row.full_clean()
            row.save(update_fields=changed)
            updated.append(name)
    return SyncResult(created=created, updated=updated, deleted=deleted, unchanged=unchanged)
