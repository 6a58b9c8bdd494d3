"""Writes of the events outbox: emitting events and delivering them to their handlers."""
from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from flashpay.events.locks import delivery_lock_if_free, delivery_lock_next_due, delivery_lock_wait
from flashpay.events.models import Event, EventDelivery
from flashpay.events.registry import handlers_for
from flashpay.sql import hot_cursor

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
    event_id = _insert_unless_recorded(event, deliveries)
    if event_id is None:
        # Recorded before (or by a concurrent transaction, which the INSERT waited for): the
        # first event stands and nothing more is written.
        return Event.objects.get(idempotency_key=idempotency_key)
    event.pk = event_id
    for delivery in deliveries:
        delivery.event = event
    if deliveries:
        transaction.on_commit(lambda: _enqueue_dispatch(event_id))
    return event


_EVENT_COLUMNS = ("type", "aggregate_type", "aggregate_id", "payload", "idempotency_key", "created_at")
_INSERT_EVENT = (
    "INSERT INTO events_event (type, aggregate_type, aggregate_id, payload, idempotency_key, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
)
_DELIVERY_COLUMNS = "handler, status, attempts, last_error, next_attempt_at, created_at, updated_at"


def _delivery_rows(deliveries: list[EventDelivery], *, event_id: int | None = None) -> tuple[str, list]:
    """(placeholders, values) of the deliveries' VALUES rows, led by ``event_id`` when given."""
    lead = () if event_id is None else (event_id,)
    width = 7 + len(lead)
    placeholders = ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * len(deliveries))
    values = [
        value
        for d in deliveries
        for value in (*lead, d.handler, d.status, d.attempts, d.last_error, d.next_attempt_at, d.created_at, d.created_at)
    ]
    return placeholders, values


def _insert_unless_recorded(event: Event, deliveries: list[EventDelivery]) -> int | None:
    """INSERT the event and its deliveries, or nothing when its idempotency key is taken; its id, or None.

    ON CONFLICT DO NOTHING never aborts the caller's transaction (no savepoint needed), and a
    concurrent insert of the same key makes it wait for that transaction's outcome. Events
    without a key (NULL) never conflict. On PostgreSQL the deliveries go into the same
    statement (a data-modifying WITH: none are written when the event is not), one round trip
    per event; elsewhere they follow in a second INSERT.
    """
    values = [
        Event._meta.get_field(name).get_db_prep_save(getattr(event, name), connection) for name in _EVENT_COLUMNS
    ]
    with hot_cursor() as cursor:
        if deliveries and connection.vendor == "postgresql":
            placeholders, rows = _delivery_rows(deliveries)
            cursor.execute(
                # only placeholders are joined in; every value is a bound parameter
                f"WITH e AS ({_INSERT_EVENT}), d AS (INSERT INTO events_eventdelivery (event_id, {_DELIVERY_COLUMNS}) "  # noqa: S608
                f"SELECT e.id, h.* FROM e CROSS JOIN (VALUES {placeholders}) AS h({_DELIVERY_COLUMNS})) SELECT id FROM e",
                values + rows,
            )
            row = cursor.fetchone()
            return row[0] if row is not None else None
        cursor.execute(_INSERT_EVENT, values)
        row = cursor.fetchone()
        if row is None:
            return None
        if deliveries:
            placeholders, rows = _delivery_rows(deliveries, event_id=row[0])
            cursor.execute(
                f"INSERT INTO events_eventdelivery (event_id, {_DELIVERY_COLUMNS}) VALUES {placeholders}",  # noqa: S608
                rows,
            )
        return row[0]


def _enqueue_dispatch(event_id: int) -> None:
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
        logger.exception("could not queue dispatch of event %s; the sweep will deliver it", event_id)


def _retry_delay(attempts: int) -> timedelta:
    """Backoff after the ``attempts``-th attempt: the configured steps, then the last one forever."""
    delays = settings.EVENTS_RETRY_DELAYS or [60]
    return timedelta(seconds=delays[min(attempts, len(delays)) - 1])


def _error_text_limit(text: str) -> str:
    return text[:2000]


def _error_text(exc: BaseException) -> str:
    return _error_text_limit(f"{type(exc).__name__}: {exc}")


def _delivery_claim(*, event_id: int | None, exclude_ids: set[int]) -> tuple[int, int] | None:
    """Take the next due delivery: count the attempt and push its next try out, then commit.

    The attempt is committed BEFORE the handler runs, so a worker that dies mid-handler (kill -9,
    OOM) still used up an attempt: a handler that crashes its worker every time is given up after
    EVENTS_MAX_ATTEMPTS instead of looping forever. Returns (delivery id, attempt number).
    """
    with transaction.atomic():
        while True:
            delivery = delivery_lock_next_due(event_id=event_id, exclude_ids=exclude_ids)
            if delivery is None:
                return None
            now = timezone.now()
            if delivery.attempts >= settings.EVENTS_MAX_ATTEMPTS:
                # Its last attempt died with its worker, which could not record why.
                delivery.status = EventDelivery.Status.FAILED
                earlier = f"; earlier: {delivery.last_error}" if delivery.last_error else ""
                delivery.last_error = _error_text_limit(
                    f"gave up: the worker stopped during attempt {delivery.attempts}{earlier}"
                )
                delivery.full_clean(validate_unique=False, validate_constraints=False)
                delivery.save(update_fields=["status", "last_error", "updated_at"])
                continue
            delivery.attempts += 1
            delivery.last_attempt_at = now
            delivery.next_attempt_at = now + _retry_delay(delivery.attempts)
            delivery.full_clean(validate_unique=False, validate_constraints=False)
            delivery.save(
                update_fields=["attempts", "last_attempt_at", "next_attempt_at", "updated_at"]
            )
            return delivery.pk, delivery.attempts


def _delivery_run(*, delivery_id: int, attempt: int) -> EventDelivery | None:
    """Run the handler of a claimed delivery and record the outcome, in one transaction.

    The row stays locked while the handler runs, so no other worker starts it; the handler's own
    writes commit together with "done", so a crash rolls back both and the delivery is retried.
    """
    with transaction.atomic():
        delivery = delivery_lock_if_free(delivery_id=delivery_id)
        # Someone else holds or has already finished it, or an operator reset it since our claim.
        if (
            delivery is None
            or delivery.status != EventDelivery.Status.PENDING
            or delivery.attempts != attempt
        ):
            return None
        try:
            handler = import_string(delivery.handler)
            with transaction.atomic():
                handler(delivery.event)
        except Exception as exc:
            logger.warning(
                "event %s handler %s failed (attempt %s): %s",
                delivery.event_id, delivery.handler, attempt, type(exc).__name__,
                exc_info=True,
            )
            delivery.last_error = _error_text(exc)
            if attempt >= settings.EVENTS_MAX_ATTEMPTS:
                delivery.status = EventDelivery.Status.FAILED
            delivery.full_clean(validate_unique=False, validate_constraints=False)
            delivery.save(update_fields=["status", "last_error", "updated_at"])
            return delivery
        delivery.status = EventDelivery.Status.DONE
        delivery.delivered_at = timezone.now()
        delivery.full_clean(validate_unique=False, validate_constraints=False)
        delivery.save(update_fields=["status", "delivered_at", "updated_at"])
        return delivery


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
    ran = 0
    seen: set[int] = set()
    deadline = time.monotonic() + time_budget
    while ran < limit and time.monotonic() < deadline:
        claimed = _delivery_claim(event_id=event_id, exclude_ids=seen)
        if claimed is None:
            break
        delivery_id, attempt = claimed
        seen.add(delivery_id)
        if _delivery_run(delivery_id=delivery_id, attempt=attempt) is not None:
            ran += 1
    return ran


def event_delivery_redeliver(*, delivery: EventDelivery) -> EventDelivery:
    """Queue a delivery again now with a fresh set of attempts (the operator's redelivery).

    Also valid for a done delivery: handlers are idempotent, so a replay is harmless.
    """
    with transaction.atomic():
        delivery = delivery_lock_wait(delivery_id=delivery.pk)
        delivery.status = EventDelivery.Status.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = timezone.now()
        delivery.delivered_at = None
        delivery.full_clean(validate_unique=False, validate_constraints=False)
        delivery.save(
            update_fields=["status", "attempts", "next_attempt_at", "delivered_at", "updated_at"]
        )
        event_id = delivery.event_id
        transaction.on_commit(lambda: _enqueue_dispatch(event_id))
    return delivery
