"""sync_schedules writes the declared periodic tasks as django-q2 schedules, idempotently."""
from io import StringIO

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from flashpay import schedules


@pytest.fixture
def schedule_registry():
    saved = dict(schedules._registry)
    yield schedules
    schedules._registry.clear()
    schedules._registry.update(saved)


def sync() -> str:
    out = StringIO()
    call_command("sync_schedules", stdout=out)
    return out.getvalue()


def rows() -> dict[str, tuple]:
    return {
        s.name: (s.func, s.schedule_type, s.minutes, s.repeats)
        for s in Schedule.objects.order_by("name")
    }


@pytest.mark.django_db
def test_sync_creates_the_declared_schedules_including_the_events_sweep():
    output = sync()

    assert rows()["flashpay:events.sweep"] == (
        "flashpay.events.tasks.events_sweep", Schedule.MINUTES, 1, -1,
    )
    assert "created flashpay:events.sweep" in output


@pytest.mark.django_db
def test_sync_is_idempotent():
    sync()
    first = rows()
    first_ids = set(Schedule.objects.values_list("pk", flat=True))
    next_runs = dict(Schedule.objects.values_list("name", "next_run"))

    output = sync()

    assert rows() == first
    assert set(Schedule.objects.values_list("pk", flat=True)) == first_ids
    # The next run is not pushed back by a restart.
    assert dict(Schedule.objects.values_list("name", "next_run")) == next_runs
    assert "0 created, 0 updated, 0 deleted" in output


@pytest.mark.django_db
def test_sync_updates_changed_and_removes_undeclared_schedules_but_not_manual_ones(
    schedule_registry,
):
    # given
    schedule_registry.register_schedule("test.a", "tests.tasks.a", minutes=5)
    schedule_registry.register_schedule("test.b", "tests.tasks.b", minutes=5)
    sync()
    Schedule.objects.create(name="operator report", func="reports.tasks.daily", minutes=60,
                            schedule_type=Schedule.MINUTES)
    # when: a changes its interval, b is no longer declared
    schedule_registry.register_schedule("test.a", "tests.tasks.a", minutes=15)
    schedule_registry.unregister_schedule("test.b")
    output = sync()

    # then
    current = rows()
    assert current["flashpay:test.a"] == ("tests.tasks.a", Schedule.MINUTES, 15, -1)
    assert "flashpay:test.b" not in current
    assert current["operator report"][0] == "reports.tasks.daily"
    assert "updated flashpay:test.a" in output
    assert "deleted flashpay:test.b" in output
    assert Schedule.objects.filter(name="flashpay:test.a").count() == 1


@pytest.mark.parametrize(
    ("name", "func", "minutes"),
    [("", "a.b", 1), ("x", "not a path", 1), ("x", "a.b", 0), ("x", "a.b", 1.5)],
)
def test_register_schedule_refuses_bad_declarations(schedule_registry, name, func, minutes):
    with pytest.raises(ValueError):
        schedule_registry.register_schedule(name, func, minutes=minutes)
