"""Writes of the events outbox: emitting events, and delivering them to their handlers (retried work)."""
from __future__ import annotations

import json
import logging

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from flashpay.events import sql
from flashpay.events.models import Event, EventDelivery
from flashpay.events.registry import handlers_for
from flashpay.work.policies import WorkPolicy
from flashpay.work.services import work_requeue, work_sweep

logger = logging.getLogger(__name__)


def event_emit(
    *,
    type: str,  # shadows the builtin on purpose: the name callers write
    aggregate_type: str,
    aggregate_id: str,
    payload: dict,
    idempotency_key: str | None = None,
) -> Event:
    """Record a domain event in the caller's transaction and queue its delivery after commit.

    One ``EventDelivery`` row is written per handler registered for ``type`` at this moment, so
    the outbox is complete when the caller commits; a rollback leaves neither. With an
    ``idempotency_key`` the event is recorded once: a second call with the same key returns the
    first event and writes nothing (safe under concurrency: the unique index decides).
    """
    if not isinstance(payload, dict):
        raise TypeError("payload must be a dict")
    # Fail here, in the caller's code path, rather than at INSERT time with a vaguer error.
    json.dumps(payload)

    event = Event(
        type=type,
        aggregate_type=aggregate_type,
        aggregate_id=str(aggregate_id),
        payload=payload,
        idempotency_key=idempotency_key,
    )
    # Uniqueness of idempotency_key is decided by the database below, not by a racy pre-check.
    event.full_clean(validate_unique=False, validate_constraints=False)
    deliveries = [EventDelivery(handler=path) for path in handlers_for(type)]
    for delivery in deliveries:
        # The event is inserted with them: checking that it exists would cost a query each.
        delivery.full_clean(exclude=["event"], validate_unique=False, validate_constraints=False)
    event_id = sql.event_insert(event, deliveries)
    if event_id is None:
        # Recorded before (or by a concurrent transaction, which the INSERT waited for): the
        # first event stands and nothing more is written.
        return Event.objects.get(idempotency_key=idempotency_key)
    event.pk = event_id
    for delivery in deliveries:
        delivery.event = event
    if deliveries:
        transaction.on_commit(lambda: _enqueue_dispatch(f"event {event_id}"))
    return event


def _enqueue_dispatch(what: str) -> None:
    """Queue the delivery of what is due, unless a queued dispatch will already find it.

    One waiting ``events_dispatch`` task delivers every event committed before a worker takes
    it, so under load the web queues one task per batch of events rather than one per event
    (flashpay.events.broker.enqueue_unless_waiting). If the broker is down the periodic sweep
    delivers instead.
    """
    from flashpay.events.broker import enqueue_unless_waiting

    try:
        enqueue_unless_waiting("flashpay.events.tasks.events_dispatch", group="events")
    except Exception:  # the outbox row is already safe; a lost enqueue only delays delivery
        logger.exception("could not queue the dispatch of %s; the sweep will deliver it", what)


def _handler_run(delivery: EventDelivery) -> None:
    """The "send one" step: call the handler. Its writes commit with "done", or roll back with its error."""
    import_string(delivery.handler)(delivery.event)


# Retried work (flashpay.work): the handler runs in the transaction that holds the delivery's lock
# and records its outcome. Its lease is the retry delay of the attempt: a worker that dies frees
# the lock, and the delivery is due again once that delay has passed.
EVENT_DELIVERIES = WorkPolicy(
    name="event delivery",
    model=EventDelivery,
    send=_handler_run,
    delays=lambda: settings.EVENTS_RETRY_DELAYS or [60],
    max_attempts=lambda delivery: settings.EVENTS_MAX_ATTEMPTS,
    in_transaction=True,
    enqueue=lambda delivery_id: _enqueue_dispatch(f"delivery {delivery_id}"),
    done_at="delivered_at",
    select_related=("event",),
)


def event_deliveries_run(
    *, event_id: int | None = None, limit: int = 500, time_budget: float = 40.0
) -> int:
    """Deliver due pending deliveries (of one event, or of all events) and return how many ran.

    Safe to run in any number of workers at once and to run twice for the same event: each
    delivery is claimed under SKIP LOCKED and a finished one is never run again. A failed
    attempt is retried by a later sweep after the EVENTS_RETRY_DELAYS backoff, never in the same
    call, so one broken handler cannot hold up the others. Stops claiming after ``limit``
    deliveries or ``time_budget`` seconds, so a sweep ends well inside the worker's task timeout.
    """
    filters = None if event_id is None else {"event_id": event_id}
    return work_sweep(EVENT_DELIVERIES, limit=limit, time_budget=time_budget, filters=filters)


def event_delivery_redeliver(*, delivery: EventDelivery) -> EventDelivery:
    """Queue a delivery again now with a fresh set of attempts (the operator's redelivery).

    Also valid for a done delivery: handlers are idempotent, so a replay is harmless.
    """
    return work_requeue(EVENT_DELIVERIES, pk=delivery.pk)
