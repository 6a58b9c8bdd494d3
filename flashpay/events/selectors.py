"""Reads of the events outbox."""
from __future__ import annotations

from django.db.models import QuerySet

from flashpay.events.models import Event, EventDelivery


def event_list(*, aggregate_type: str, aggregate_id: str) -> QuerySet[Event]:
    """The events of one aggregate (an invoice, a card...), oldest first."""
    return Event.objects.filter(
        aggregate_type=aggregate_type, aggregate_id=str(aggregate_id)
    ).order_by("pk")


def event_get_by_idempotency_key(*, idempotency_key: str) -> Event | None:
    return Event.objects.filter(idempotency_key=idempotency_key).first()


def delivery_list_failed() -> QuerySet[EventDelivery]:
    """Deliveries given up after the maximum number of attempts (they wait for an operator)."""
    return EventDelivery.objects.filter(state=EventDelivery.State.FAILED).select_related("event")
