"""Delivering the outbox: each handler once, retries with backoff, give-up, redelivery, locking."""
from datetime import timedelta

import pytest
from django.utils import timezone

from flashpay.events.models import Event, EventDelivery
from flashpay.events.services import event_delivery_redeliver, event_emit
from flashpay.events.tasks import dispatch_event, events_sweep
from tests.concurrency import run_together
from tests.flashpay.events import handlers

H = "tests.flashpay.events.handlers"


def emit(event_type: str = "InvoiceSettled") -> Event:
    return event_emit(
        type=event_type, aggregate_type="invoice", aggregate_id="inv1", payload={"n": 1}
    )


def delivery(event: Event, name: str) -> EventDelivery:
    return EventDelivery.objects.get(event=event, handler=f"{H}.{name}")


@pytest.mark.django_db
def test_dispatch_calls_each_registered_handler_once(handler_registry, calls):
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_a")
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_b")
    event = emit()
    other = emit("CardPaid")

    dispatch_event(event.pk)

    assert sorted(calls) == [("a", event.pk), ("b", event.pk)]
    for name in ("record_a", "record_b"):
        d = delivery(event, name)
        assert (d.state, d.attempts, d.last_error) == (EventDelivery.State.DONE, 1, "")
        assert d.delivered_at is not None
    assert not other.deliveries.exists()


@pytest.mark.django_db
def test_dispatching_twice_does_not_run_a_completed_delivery_again(handler_registry, calls):
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_a")
    event = emit()

    dispatch_event(event.pk)
    dispatch_event(event.pk)
    events_sweep()

    assert calls == [("a", event.pk)]
    assert delivery(event, "record_a").attempts == 1


@pytest.mark.django_db
def test_a_failing_handler_is_retried_later_and_the_others_are_not_rerun(
    handler_registry, calls, settings
):
    # given: handler b is down for one call
    settings.EVENTS_RETRY_DELAYS = [30]
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_a")
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_b")
    handlers.FAIL["b"] = 1
    event = emit()

    # when
    before = timezone.now()
    dispatch_event(event.pk)

    # then: a is done, b waits for its backoff
    assert delivery(event, "record_a").state == EventDelivery.State.DONE
    b = delivery(event, "record_b")
    assert (b.state, b.attempts) == (EventDelivery.State.PENDING, 1)
    assert b.last_error == "RuntimeError: b is down"
    assert b.next_attempt_at >= before + timedelta(seconds=30)

    # a sweep before the backoff has passed runs nothing
    events_sweep()
    assert sorted(calls) == [("a", event.pk), ("b", event.pk)]

    # when the backoff has passed (moved back in time rather than sleeping)
    EventDelivery.objects.filter(pk=b.pk).update(next_attempt_at=timezone.now())
    events_sweep()

    # then only b ran again, and succeeded
    assert sorted(calls) == [("a", event.pk), ("b", event.pk), ("b", event.pk)]
    b.refresh_from_db()
    assert (b.state, b.attempts) == (EventDelivery.State.DONE, 2)


@pytest.mark.django_db
def test_backoff_grows_with_each_attempt_then_repeats_its_last_step(
    handler_registry, calls, settings
):
    settings.EVENTS_RETRY_DELAYS = [10, 60]
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_a")
    handlers.FAIL["a"] = -1
    event = emit()
    waits = []
    for _ in range(3):
        EventDelivery.objects.filter(event=event).update(next_attempt_at=timezone.now())
        events_sweep()
        d = delivery(event, "record_a")
        waits.append(round((d.next_attempt_at - d.last_attempt_at).total_seconds()))

    assert waits == [10, 60, 60]


@pytest.mark.django_db
def test_a_handlers_writes_are_rolled_back_when_it_raises(handler_registry, calls):
    handler_registry.register_handler("InvoiceSettled", f"{H}.echo_then_fail")
    event = emit()

    dispatch_event(event.pk)

    assert calls == [("echo_then_fail", event.pk)]
    assert not Event.objects.filter(type="Echo").exists()
    d = delivery(event, "echo_then_fail")
    assert (d.state, d.attempts, d.last_error) == (
        EventDelivery.State.PENDING, 1, "RuntimeError: after writing",
    )


@pytest.mark.django_db
def test_delivery_gives_up_after_max_attempts_and_an_operator_can_redeliver(
    handler_registry, calls, settings, django_capture_on_commit_callbacks
):
    # given: a handler that is always down, two attempts allowed, no wait between them
    settings.EVENTS_MAX_ATTEMPTS = 2
    settings.EVENTS_RETRY_DELAYS = [0]
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_a")
    handlers.FAIL["a"] = -1
    event = emit()

    # when
    for _ in range(4):
        events_sweep()

    # then: tried twice, then given up
    assert calls == [("a", event.pk)] * 2
    d = delivery(event, "record_a")
    assert (d.state, d.attempts) == (EventDelivery.State.FAILED, 2)
    assert d.last_error == "RuntimeError: a is down"

    # when the handler is fixed and an operator redelivers
    handlers.FAIL.clear()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event_delivery_redeliver(delivery=d)
    assert len(callbacks) == 1
    dispatch_event(event.pk)

    # then
    assert calls == [("a", event.pk)] * 3
    d.refresh_from_db()
    assert (d.state, d.attempts) == (EventDelivery.State.DONE, 1)


@pytest.mark.django_db
def test_a_delivery_whose_last_attempt_died_with_its_worker_is_given_up_without_running(
    handler_registry, calls, settings
):
    settings.EVENTS_MAX_ATTEMPTS = 3
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_a")
    event = emit()
    # The state a worker leaves when it is killed during the 3rd attempt, once the backoff passed.
    EventDelivery.objects.filter(event=event).update(attempts=3, next_attempt_at=timezone.now())

    events_sweep()

    assert calls == []
    d = delivery(event, "record_a")
    assert d.state == EventDelivery.State.FAILED
    assert d.last_error == "gave up: the worker stopped during attempt 3"


@pytest.mark.django_db
def test_a_stale_handler_path_fails_visibly_instead_of_crashing_the_sweep(
    handler_registry, calls
):
    handler_registry.register_handler("InvoiceSettled", f"{H}.no_such_handler")
    handler_registry.register_handler("InvoiceSettled", f"{H}.record_a")
    event = emit()

    events_sweep()

    assert calls == [("a", event.pk)]
    d = delivery(event, "no_such_handler")
    assert d.state == EventDelivery.State.PENDING
    assert d.last_error.startswith("ImportError")


@pytest.mark.django_db(transaction=True)
# With no backoff the claimed row is due again at once: only its row lock keeps the other out.
@pytest.mark.parametrize("delays", [[0], [10]])
def test_concurrent_sweeps_run_a_delivery_once(handler_registry, calls, settings, delays):
    # given: a slow handler, so both sweeps are running while it is being delivered
    settings.EVENTS_RETRY_DELAYS = delays
    handler_registry.register_handler("InvoiceSettled", f"{H}.slow_record")
    event = emit()
    counts = run_together(events_sweep, events_sweep, timeout=20).values()

    # then
    assert calls == [("slow", event.pk)]
    assert sorted(counts) == [0, 1]
    d = delivery(event, "slow_record")
    assert (d.state, d.attempts) == (EventDelivery.State.DONE, 1)
