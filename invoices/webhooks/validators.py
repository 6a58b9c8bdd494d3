"""Validation of webhook URLs and event types (shared by the API, the admin and the services)."""
from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

# Greenfield's webhook event types (WebhookDataBase.authorizedEvents.specificEvents).
INVOICE_EVENT_TYPES = (
    "InvoiceCreated",
    "InvoiceReceivedPayment",
    "InvoiceProcessing",
    "InvoiceExpired",
    "InvoiceSettled",
    "InvoiceInvalid",
    "InvoicePaymentSettled",
)
WEBHOOK_EVENT_TYPES = INVOICE_EVENT_TYPES + (
    "PaymentRequestCreated",
    "PaymentRequestUpdated",
    "PaymentRequestArchived",
    "PaymentRequestStatusChanged",
    "PayoutCreated",
    "PayoutApproved",
    "PayoutUpdated",
    "SubscriberCreated",
    "SubscriberCredited",
    "SubscriberCharged",
    "SubscriberActivated",
    "SubscriberPhaseChanged",
    "SubscriberDisabled",
    "PaymentReminder",
    "PlanStarted",
    "SubscriberNeedUpgrade",
)

_url_validator = URLValidator(
    schemes=["http", "https"], message="Enter an absolute http:// or https:// URL."
)


def validate_webhook_url(value: str) -> None:
    """Only absolute http(s) URLs: no file:, gopher:, ftp: or other schemes a worker could be led to."""
    _url_validator(value)
    if urlsplit(value).username is not None:
        # Credentials in the URL would be shown back by every GET of the webhook.
        raise ValidationError("The URL must not contain a user name or password.")


def validate_event_types(value) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError("Expected a list of event types.")
    unknown = sorted(set(value) - set(WEBHOOK_EVENT_TYPES))
    if unknown:
        raise ValidationError(
            f"Unknown event type(s): {', '.join(unknown)}. Known: {', '.join(WEBHOOK_EVENT_TYPES)}."
        )
