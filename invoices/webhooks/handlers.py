"""Outbox handler that turns invoice events into webhook deliveries, and its registration."""
from __future__ import annotations

from flashpay.events.models import Event
from invoices.webhooks.services import webhook_deliveries_create
from invoices.webhooks.validators import INVOICE_EVENT_TYPES


def webhook_event_handle(event: Event) -> None:
    """Write one delivery per interested webhook; at-least-once safe (see the service)."""
    webhook_deliveries_create(event=event)


def webhooks_register() -> None:
    """Called from InvoicesConfig.ready(): the handler for each invoice event, and the retry sweep."""
    from flashpay.events.registry import register_handler
    from flashpay.schedules import register_schedule
    from invoices.webhooks import admin  # noqa: F401  (registers the admin pages; only invoices.admin is autodiscovered)

    for event_type in INVOICE_EVENT_TYPES:
        register_handler(event_type, "invoices.webhooks.handlers.webhook_event_handle")
    # The scheduler's finest grain is one minute (it wakes every ~30 s), so the 10 s first retry
    # really happens at the next tick; the delays after that are as documented.
    register_schedule("webhooks.send_due", "invoices.webhooks.tasks.webhooks_send_due", minutes=1)
    register_schedule("webhooks.prune", "invoices.webhooks.tasks.webhooks_prune", minutes=24 * 60)
