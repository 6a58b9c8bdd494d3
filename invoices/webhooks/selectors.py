"""Reads of webhooks and their deliveries."""
from __future__ import annotations

from django.db.models import QuerySet

from flashpay.errors import NotFound
from invoices.webhooks.models import Webhook, WebhookDelivery


def webhook_list(*, store_id: str) -> QuerySet[Webhook]:
    return Webhook.objects.filter(store_id=store_id).order_by("created_at", "pk")


def webhook_get(*, webhook_id: str, store_ids: set[str] | None = None) -> Webhook:
    """A webhook, if it belongs to one of ``store_ids`` (None: any store); else NotFound.

    A webhook of a store the caller has no rights on answers like a missing one, so webhook
    ids of other merchants cannot be probed.
    """
    qs = Webhook.objects.select_related("store").filter(pk=webhook_id)
    if store_ids is not None:
        qs = qs.filter(store_id__in=store_ids)
    webhook = qs.first()
    if webhook is None:
        raise NotFound("The webhook has not been found", code="webhook-not-found")
    return webhook


def webhook_delivery_list(*, webhook: Webhook, count: int = 50) -> QuerySet[WebhookDelivery]:
    """The latest deliveries of a webhook, most recent first."""
    return webhook.deliveries.order_by("-created_at", "-pk")[:count]


def webhook_delivery_get(*, webhook: Webhook, delivery_id: str) -> WebhookDelivery:
    delivery = webhook.deliveries.select_related("original_delivery").filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound("The delivery does not exist.", code="webhookdelivery-not-found")
    return delivery


def webhook_delivery_attempts(*, delivery: WebhookDelivery):
    return delivery.attempt_log.order_by("number")
