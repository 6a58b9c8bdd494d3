"""The configured django-q2 broker queues tasks the cluster can take and run."""
import pytest
from django_q.brokers import get_broker
from django_q.signing import SignedPackage
from django_q.tasks import async_task

from flashpay.events.broker import DatabaseBroker

pytestmark = pytest.mark.django_db


def test_a_queued_task_is_dequeued_once_with_its_arguments():
    broker = get_broker()
    assert isinstance(broker, DatabaseBroker)
    task_id = async_task("flashpay.events.tasks.dispatch_event", 42, group="events")
    assert broker.queue_size() == 1

    [(package_id, payload)] = broker.dequeue()
    task = SignedPackage.loads(payload)
    assert (task["id"], task["func"], task["args"], task["group"]) == (task_id, "flashpay.events.tasks.dispatch_event", (42,), "events")
    assert broker.dequeue() is None  # locked while the worker runs it
    broker.acknowledge(package_id)
    assert broker.queue_size() == 0 and broker.lock_size() == 0


def _queued_dispatches() -> list[str]:
    from django_q.models import OrmQ

    return [row.func() for row in OrmQ.objects.all()]


def test_events_committed_while_a_dispatch_waits_share_it_and_it_delivers_them_all(
    handler_registry, calls, django_capture_on_commit_callbacks
):
    from flashpay.events.services import event_emit
    from flashpay.events.tasks import events_dispatch

    handler_registry.register_handler("InvoiceCreated", "tests.flashpay.events.handlers.record_a")
    events = []
    for n in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            events.append(event_emit(type="InvoiceCreated", aggregate_type="invoice", aggregate_id=f"i{n}", payload={}))
    assert _queued_dispatches() == ["flashpay.events.tasks.events_dispatch"]

    # A worker takes the task: the next event needs a task of its own.
    taken = get_broker().dequeue()
    assert len(taken) == 1
    with django_capture_on_commit_callbacks(execute=True):
        events.append(event_emit(type="InvoiceCreated", aggregate_type="invoice", aggregate_id="i3", payload={}))
    assert len(_queued_dispatches()) == 2

    assert events_dispatch() == 4
    assert sorted(calls) == sorted(("a", e.pk) for e in events)


def test_a_dispatch_that_stops_at_its_batch_limit_queues_the_rest(handler_registry, calls, monkeypatch):
    from flashpay.events import tasks
    from flashpay.events.services import event_emit

    handler_registry.register_handler("InvoiceCreated", "tests.flashpay.events.handlers.record_a")
    for n in range(3):
        event_emit(type="InvoiceCreated", aggregate_type="invoice", aggregate_id=f"i{n}", payload={})
    monkeypatch.setattr(tasks, "DISPATCH_BATCH", 2)

    assert tasks.events_dispatch() == 2
    assert _queued_dispatches() == ["flashpay.events.tasks.events_dispatch"]
    assert tasks.events_dispatch() == 1
    assert len(calls) == 3


def test_a_broker_that_is_down_does_not_fail_the_caller(monkeypatch, caplog):
    from django.db import OperationalError

    from flashpay.events.broker import task_enqueue

    assert task_enqueue("flashpay.events.tasks.events_sweep", group="events") is True

    def down(self, task):
        raise OperationalError("the queue table is unreachable")

    monkeypatch.setattr(DatabaseBroker, "enqueue", down)
    assert task_enqueue("invoices.webhooks.tasks.webhook_delivery_send_task", "d1") is False
    assert "the sweep will do it" in caplog.text
