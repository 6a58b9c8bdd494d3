"""The handler registry: which handlers receive which event types."""
import pytest

from flashpay.events.models import EventDelivery
from flashpay.events.services import event_emit

H = "tests.flashpay.events.handlers"


def test_handlers_for_a_type_come_before_catch_all_handlers_without_repeats(handler_registry):
    handler_registry.register_handler("*", f"{H}.record_b")
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_a")
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_a")
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_b")

    assert handler_registry.handlers_for("InvoiceSettled") == [f"{H}.record_a", f"{H}.record_b"]
    assert handler_registry.handlers_for("CardPaid") == [f"{H}.record_b"]


@pytest.mark.parametrize(
    ("event_type", "path"),
    [("", f"{H}.record_a"), ("X", "record_a"), ("X", "a.b; import os"), ("X" * 101, "a.b")],
)
def test_register_handler_refuses_bad_declarations(handler_registry, event_type, path):
    with pytest.raises(ValueError):
        handler_registry.register_handler(event_type, path)
    assert handler_registry.handlers_for(event_type or "X") == []


@pytest.mark.django_db
def test_an_event_without_handlers_is_recorded_and_queues_nothing(
    handler_registry, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = event_emit(type="Audit", aggregate_type="card", aggregate_id="c1", payload={})

    assert event.pk is not None
    assert not EventDelivery.objects.exists()
    assert callbacks == []


@pytest.mark.django_db
def test_a_handler_registered_later_does_not_receive_earlier_events(handler_registry, calls):
    from flashpay.events.tasks import events_sweep

    event_emit(type="InvoiceSettled", aggregate_type="invoice", aggregate_id="i", payload={})
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_a")

    events_sweep()

    assert calls == []
