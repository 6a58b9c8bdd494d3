"""Row locks on outbox deliveries; SKIP LOCKED so concurrent workers never run the same delivery."""
from __future__ import annotations

from collections.abc import Collection

from django.utils import timezone

from flashpay.events.models import EventDelivery


def _lockable():
    # no_key: we never change the primary key, so inserts referencing the row are not blocked.
    return EventDelivery.objects.select_for_update(no_key=True, skip_locked=True, of=("self",))


def delivery_lock_next_due(
    *, event_id: int | None = None, exclude_ids: Collection[int] = ()
) -> EventDelivery | None:
    """Lock the oldest due pending delivery (of one event, if given) that no one else holds."""
    qs = _lockable().filter(
        status=EventDelivery.Status.PENDING, next_attempt_at__lte=timezone.now()
    )
    if event_id is not None:
        qs = qs.filter(event_id=event_id)
    if exclude_ids:
        qs = qs.exclude(pk__in=list(exclude_ids))
    return qs.order_by("next_attempt_at", "pk").first()


def delivery_lock_if_free(*, delivery_id: int) -> EventDelivery | None:
    """Lock one delivery unless another worker holds it (then None: that worker is running it)."""
    return _lockable().select_related("event").filter(pk=delivery_id).first()


def delivery_lock_wait(*, delivery_id: int) -> EventDelivery:
    """Lock one delivery, waiting for a worker that is running it (admin redelivery)."""
    return (
        EventDelivery.objects.select_for_update(no_key=True, of=("self",))
        .filter(pk=delivery_id)
        .get()
    )
