"""Outbox handler that turns Greenfield-typed events (invoices, payouts...) into webhook deliveries, and its registration."""
from __future__ import annotations

from flashpay.events.models import Event
from invoices.webhooks.services import webhook_deliveries_create
from invoices.webhooks.validators import WEBHOOK_EVENT_TYPES


def webhook_event_handle(event: Event) -> None:
    """Write one delivery per interested webhook; at-least-once safe (see the service)."""
    webhook_deliveries_create(event=event)


def webhooks_register() -> None:
    """Called from InvoicesConfig.ready(): the handler for each Greenfield webhook event type, and the sweeps.

    Any app that emits an outbox event whose type is a Greenfield webhook type (payouts, payment
    requests...) and whose payload is the webhook body with ``storeId`` gets it delivered too.
    """
    from flashpay.events.registry import register_handler
    from flashpay.schedules import register_schedule
    from invoices.webhooks import admin  # noqa: F401  (registers the admin pages; only invoices.admin is autodiscovered)

    for event_type in WEBHOOK_EVENT_TYPES:
        register_handler(event_type, "invoices.webhooks.handlers.webhook_event_handle")
    # The scheduler's finest grain is one minute (it wakes every ~30 s), so the 10 s first retry
    # really happens at the next tick; the delays after that are as documented.
    register_schedule("webhooks.send_due", "invoices.webhooks.tasks.webhooks_send_due", minutes=1)
    register_schedule("webhooks.prune", "invoices.webhooks.tasks.webhooks_prune", minutes=24 * 60)
