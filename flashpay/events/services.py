"""Writes of the events outbox: emitting events and delivering them to their handlers."""
from __future__ import annotations

import json
import logging

from django.db import IntegrityError, transaction

from flashpay.events.models import Event, EventDelivery
from flashpay.events.registry import handlers_for

logger = logging.getLogger(__name__)


def event_emit(
    *,
    type: str,  # noqa: A002 - the public name of the field, as callers write it
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
    if idempotency_key is not None:
        existing = Event.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing

    event = Event(
        type=type,
        aggregate_type=aggregate_type,
        aggregate_id=str(aggregate_id),
        payload=payload,
        idempotency_key=idempotency_key,
    )
    # Uniqueness of idempotency_key is decided by the database below, not by a racy pre-check.
    event.full_clean(validate_unique=False)
    try:
        # A savepoint, so a concurrent insert of the same key does not poison the caller's
        # transaction: we fall back to the winner's row (visible once it has committed).
        with transaction.atomic():
            event.save(force_insert=True)
    except IntegrityError:
        if idempotency_key is None:
            raise
        return Event.objects.get(idempotency_key=idempotency_key)

    deliveries = [EventDelivery(event=event, handler=path) for path in handlers_for(type)]
    for delivery in deliveries:
        delivery.full_clean(validate_unique=False, validate_constraints=False)
    EventDelivery.objects.bulk_create(deliveries)
    if deliveries:
        event_id = event.pk
        transaction.on_commit(lambda: _enqueue_dispatch(event_id))
    return event


def _enqueue_dispatch(event_id: int) -> None:
    """Queue ``dispatch_event``; if the broker is down the periodic sweep delivers instead."""
    from django_q.tasks import async_task

    try:
        async_task("flashpay.events.tasks.dispatch_event", event_id, group="events")
    except Exception:  # the outbox row is already safe; a lost enqueue only delays delivery
        logger.exception("could not queue dispatch of event %s; the sweep will deliver it", event_id)
