"""Row locks on webhook deliveries; SKIP LOCKED so two workers never send the same attempt."""
from __future__ import annotations

from collections.abc import Collection

from django.utils import timezone

from invoices.webhooks.models import WebhookDelivery


def _due():
    return (
        WebhookDelivery.objects.select_for_update(no_key=True, skip_locked=True, of=("self",))
        .select_related("webhook")
        .filter(state=WebhookDelivery.State.PENDING, next_attempt_at__lte=timezone.now())
    )


def delivery_lock_due(*, delivery_id: str) -> WebhookDelivery | None:
    """Lock one delivery if it is due and free (else None: not due, finished, or being sent)."""
    return _due().filter(pk=delivery_id).first()


def delivery_lock_next_due(*, exclude_ids: Collection[str] = ()) -> WebhookDelivery | None:
    """Lock the oldest due delivery no other worker holds."""
    qs = _due()
    if exclude_ids:
        qs = qs.exclude(pk__in=list(exclude_ids))
    return qs.order_by("next_attempt_at", "created_at", "pk").first()


def delivery_lock_wait(*, delivery_id: str) -> WebhookDelivery:
    """Lock one delivery, waiting for whoever holds it (recording an attempt's result)."""
    return (
        WebhookDelivery.objects.select_for_update(no_key=True, of=("self",))
        .select_related("webhook")
        .get(pk=delivery_id)
    )
