"""event_emit: the outbox row and its deliveries are written in the caller's transaction."""
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django_q.models import OrmQ

from flashpay.events.models import Event, EventDelivery
from flashpay.events.services import event_emit

H = "tests.flashpay.events.handlers"


def emit(**overrides):
    kwargs = {
        "type": "InvoiceSettled",
        "aggregate_type": "invoice",
        "aggregate_id": "inv1",
        "payload": {"invoiceId": "inv1", "amount": "10.00"},
    }
    kwargs.update(overrides)
    return event_emit(**kwargs)


@pytest.mark.django_db
def test_emit_writes_event_and_one_delivery_per_handler_and_queues_dispatch(
    handler_registry, django_capture_on_commit_callbacks
):
    # given
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_a")
    handler_registry.register_handler("*", f"{H}.record_b")
    handler_registry.register_handler("CardPaid", f"{H}.slow_record")

    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = emit()

    # then
    event.refresh_from_db()
    assert event.type == "InvoiceSettled"
    assert event.payload == {"invoiceId": "inv1", "amount": "10.00"}
    deliveries = list(event.deliveries.order_by("handler"))
    assert [d.handler for d in deliveries] == [f"{H}.record_a", f"{H}.record_b"]
    assert all(d.state == EventDelivery.State.PENDING and d.attempts == 0 for d in deliveries)
    assert len(callbacks) == 1


@pytest.mark.django_db(transaction=True)
def test_emit_in_a_rolled_back_transaction_leaves_no_event_no_delivery_no_task(handler_registry):
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_a")

    with pytest.raises(RuntimeError), transaction.atomic():
        emit()
        raise RuntimeError("the caller's change failed")

    assert Event.objects.count() == 0
    assert EventDelivery.objects.count() == 0
    assert OrmQ.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_emit_after_commit_queues_one_dispatch_task(handler_registry):
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_a")

    with transaction.atomic():
        emit()
        # Not before the caller commits: a worker must never see a task for an unwritten event.
        assert OrmQ.objects.count() == 0

    assert OrmQ.objects.count() == 1


@pytest.mark.django_db
def test_emit_with_the_same_idempotency_key_records_once(
    handler_registry, django_capture_on_commit_callbacks
):
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_a")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = emit(idempotency_key="lnd:settle:abc")
        second = emit(idempotency_key="lnd:settle:abc")

    assert second.pk == first.pk
    assert Event.objects.count() == 1
    assert EventDelivery.objects.count() == 1
    assert len(callbacks) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_emits_with_the_same_key_record_once(handler_registry):
    # given: a watcher's transaction has emitted the event but not committed yet
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_a")
    emitted = threading.Event()
    result: dict[str, int] = {}

    def first_watcher():
        try:
            with transaction.atomic():
                result["first"] = emit(idempotency_key="lnd:settle:race").pk
                emitted.set()
                # Hold the transaction open so the second insert has to wait on the unique index.
                threading.Event().wait(0.5)
        finally:
            emitted.set()
            connection.close()

    thread = threading.Thread(target=first_watcher)
    thread.start()
    try:
        assert emitted.wait(10)
        # when: a second watcher records the same node event meanwhile
        with transaction.atomic():
            result["second"] = emit(idempotency_key="lnd:settle:race").pk
    finally:
        thread.join(10)

    # then
    assert result["second"] == result["first"]
    assert Event.objects.count() == 1
    assert EventDelivery.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("payload", [["not", "a", "dict"], {"amount": Decimal("1.5")}])
def test_emit_refuses_a_payload_that_is_not_a_json_object_and_writes_nothing(
    handler_registry, payload
):
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_a")

    with pytest.raises(TypeError):
        emit(payload=payload)

    assert Event.objects.count() == 0
    assert EventDelivery.objects.count() == 0
