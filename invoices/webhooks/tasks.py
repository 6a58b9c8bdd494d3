"""django-q2 tasks for webhooks: one send queued after commit, and the sweep of due retries."""
from __future__ import annotations

from invoices.webhooks.services import (
    webhook_deliveries_prune,
    webhook_deliveries_send_due,
    webhook_delivery_send,
)


def webhook_delivery_send_task(delivery_id: str) -> str | None:
    """One attempt at one delivery; a no-op if it is not due or another worker has it."""
    delivery = webhook_delivery_send(delivery_id=delivery_id)
    return None if delivery is None else delivery.state


def webhooks_send_due() -> int:
    """Retries whose time has come, sends whose task was lost, leases of dead workers."""
    return webhook_deliveries_send_due()


def webhooks_prune() -> int:
    """Daily: forget the request bodies of old finished deliveries."""
    return webhook_deliveries_prune()
