"""The outbox's hand-written statements write and read what the ORM writes and reads."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from flashpay.events import sql
from flashpay.events.models import Event, EventDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["one statement", "two statements"])
def insert_path(request, monkeypatch):
    """Both ways event_insert writes on PostgreSQL: one WITH statement, and the portable pair."""
    monkeypatch.setattr(sql, "ONE_STATEMENT_ON_POSTGRESQL", request.param == "one statement")
    return request.param


def _values(instance, *, leave_out=("id", "event", "updated_at")) -> dict:
    return {f.name: getattr(instance, f.name) for f in type(instance)._meta.concrete_fields if f.name not in leave_out}


def _event(key: str | None = None, **overrides) -> Event:
    fields = {
        "type": "InvoiceSettled", "aggregate_type": "invoice", "aggregate_id": "inv-7",
        "payload": {"invoiceId": "inv-7", "amount": "1.50", "nested": {"list": [1, "two", None]}},
        "idempotency_key": key, "created_at": timezone.now() - timedelta(seconds=5),
    }
    fields.update(overrides)
    return Event(**fields)


def _deliveries(event: Event) -> list[EventDelivery]:
    return [
        EventDelivery(handler=f"app.handlers.h{n}", created_at=event.created_at, next_attempt_at=event.created_at)
        for n in range(2)
    ]


def test_an_event_and_its_deliveries_are_stored_as_the_orm_stores_them(insert_path):
    # given: the same event written by the statement and by the ORM
    event = _event("k-1")
    event_id = sql.event_insert(event, _deliveries(event))
    twin = _event("k-2", created_at=event.created_at)
    twin.save()
    for delivery in _deliveries(twin):
        delivery.event = twin
        delivery.save()

    # then: read back through the ORM, every column holds what the ORM wrote
    stored, expected = Event.objects.get(pk=event_id), Event.objects.get(pk=twin.pk)
    assert _values(stored, leave_out=("id", "idempotency_key")) == _values(expected, leave_out=("id", "idempotency_key"))
    assert stored.idempotency_key == "k-1"
    got = [_values(d) for d in EventDelivery.objects.filter(event_id=event_id).order_by("handler")]
    want = [_values(d) for d in EventDelivery.objects.filter(event=twin).order_by("handler")]
    assert got == want
    assert got[0]["state"] == EventDelivery.State.PENDING and got[0]["attempts"] == 0
    # the deliveries are the ORM's: the engine's column names map onto the table's
    assert EventDelivery.objects.filter(event_id=event_id, state="pending").count() == 2


def test_an_event_without_handlers_is_stored_alone(insert_path):
    event_id = sql.event_insert(_event(), [])
    assert Event.objects.get(pk=event_id).idempotency_key is None
    assert not EventDelivery.objects.filter(event_id=event_id).exists()


def test_a_taken_idempotency_key_writes_nothing_and_gives_no_id(insert_path):
    first = _event("same-key")
    first_id = sql.event_insert(first, _deliveries(first))
    again = _event("same-key", aggregate_id="other")

    assert sql.event_insert(again, _deliveries(again)) is None

    assert list(Event.objects.values_list("pk", flat=True)) == [first_id]
    assert EventDelivery.objects.count() == 2


def test_events_without_a_key_never_conflict(insert_path):
    ids = {sql.event_insert(_event(), []) for _ in range(3)}
    assert len(ids) == 3 and None not in ids


def test_a_queued_task_row_is_the_one_the_orm_writes():
    now = timezone.now()
    row = OrmQ(key="flashpay", payload="signed-package", lock=now)
    sql.TASK_INSERT.execute([row])
    twin = OrmQ.objects.create(key="flashpay", payload="signed-package", lock=now)

    stored = OrmQ.objects.get(pk=row.pk)
    assert (stored.key, stored.payload, stored.lock) == (twin.key, twin.payload, twin.lock)


def test_task_waiting_answers_as_the_orm_filter_does():
    now = timezone.now()
    untaken = OrmQ.objects.create(key="flashpay", payload="a", lock=now - timedelta(seconds=1))
    taken = OrmQ.objects.create(key="flashpay", payload="b", lock=now + timedelta(seconds=60))
    gone = OrmQ.objects.create(key="flashpay", payload="c", lock=now)
    gone_id = gone.pk
    gone.delete()

    for row_id in (untaken.pk, taken.pk, gone_id):
        for at in (now - timedelta(seconds=5), now, now + timedelta(minutes=5)):
            expected = OrmQ.objects.filter(pk=row_id, lock__lte=at).exists()
            assert sql.task_waiting(row_id=row_id, now=at) is expected, (row_id, at)
