"""Outbox handler that turns invoice events into store e-mails, and its registration."""
from __future__ import annotations

from flashpay.events.models import Event
from invoices.emails.services import email_messages_create
from invoices.webhooks.validators import INVOICE_EVENT_TYPES


def email_event_handle(event: Event) -> None:
    """Render the store's matching rules into messages; at-least-once safe (one per rule and event)."""
    email_messages_create(event=event)


def emails_register() -> None:
    """Called from InvoicesConfig.ready(): the handler for each invoice event, and the retry sweep."""
    from flashpay.events.registry import register_handler
    from flashpay.schedules import register_schedule
    from invoices.emails import admin  # noqa: F401  (registers the admin pages; only invoices.admin is autodiscovered)

    for event_type in INVOICE_EVENT_TYPES:
        register_handler(event_type, "invoices.emails.handlers.email_event_handle")
    register_schedule("emails.send_due", "invoices.emails.tasks.emails_send_due", minutes=1)
