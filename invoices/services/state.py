"""The invoice state machine: the transition table, the guarded transition service and webhook events.

Statuses and webhook event bodies follow BTCPay's Greenfield API (``InvoiceStatus``,
``InvoiceAdditionalStatus``, ``WebhookInvoice*Event``). Every transition writes an
``InvoiceEvent`` audit row and, when Greenfield has a webhook for it, an outbox event whose type
is the webhook type and whose payload is the webhook body without the delivery fields.
"""
from __future__ import annotations

from django.utils import timezone

from flashpay.errors import ApplicationError
from flashpay.events.services import event_emit
from invoices.models import (
    Invoice,
    InvoiceAdditionalStatus,
    InvoiceEvent,
    InvoicePayment,
    InvoiceStatus,
)
from invoices.selectors import payment_data

S = InvoiceStatus
A = InvoiceAdditionalStatus

# Allowed status changes (a change of the additional status alone is always a self-transition).
TRANSITIONS: dict[str, set[str]] = {
    S.NEW: {S.NEW, S.PROCESSING, S.EXPIRED, S.SETTLED, S.INVALID},
    # back to New: a payment that made it Processing was reorged out or double-spent
    S.PROCESSING: {S.PROCESSING, S.SETTLED, S.INVALID, S.NEW},
    S.EXPIRED: {S.EXPIRED, S.INVALID, S.SETTLED},
    S.SETTLED: {S.SETTLED, S.INVALID},
    S.INVALID: {S.INVALID, S.SETTLED},
}

EVENT_CREATED = "InvoiceCreated"
EVENT_RECEIVED_PAYMENT = "InvoiceReceivedPayment"
EVENT_PAYMENT_SETTLED = "InvoicePaymentSettled"
EVENT_PROCESSING = "InvoiceProcessing"
EVENT_EXPIRED = "InvoiceExpired"
EVENT_SETTLED = "InvoiceSettled"
EVENT_INVALID = "InvoiceInvalid"
# Not a Greenfield webhook: the domain event other apps (card top-ups, rewards) follow when a
# payment that was counted loses its standing: a settled payment a reorg unconfirmed (back in
# the mempool: ``reason`` "unconfirmed") or took out of the chain, or a payment double-spent,
# replaced or evicted (``reason`` "removed"). Its body is InvoicePaymentSettled's plus
# ``previousStatus`` and ``reason``; ``payment.status`` is the payment's status now. A payment
# that comes back and settles again is announced by a new InvoicePaymentSettled.
EVENT_PAYMENT_UNDONE = "InvoicePaymentUndone"
WEBHOOK_EVENT_TYPES = (
    EVENT_CREATED,
    EVENT_RECEIVED_PAYMENT,
    EVENT_PAYMENT_SETTLED,
    EVENT_PROCESSING,
    EVENT_EXPIRED,
    EVENT_SETTLED,
    EVENT_INVALID,
)


class InvalidTransition(ApplicationError):
    code = "invalid-state"
    status_code = 422


def _body(invoice: Invoice, event_type: str, **fields) -> dict:
    # WebhookInvoiceEvent without deliveryId/webhookId/originalDeliveryId/isRedelivery, which the
    # webhook sender adds per delivery.
    return {
        "type": event_type,
        "timestamp": int(timezone.now().timestamp()),
        "storeId": invoice.store_id,
        "invoiceId": invoice.pk,
        "metadata": invoice.metadata,
        **fields,
    }


def _emit(invoice: Invoice, event_type: str, key: str, **fields) -> None:
    event_emit(
        type=event_type,
        aggregate_type="invoice",
        aggregate_id=invoice.pk,
        payload=_body(invoice, event_type, **fields),
        idempotency_key=f"{event_type}:{invoice.pk}:{key}",
    )


def emit_created(invoice: Invoice) -> None:
    _emit(invoice, EVENT_CREATED, "created")


def emit_payment(invoice: Invoice, payment: InvoicePayment, event_type: str, **fields) -> None:
    """InvoiceReceivedPayment / InvoicePaymentSettled / InvoicePaymentUndone for one payment:
    once per payment, and once more each time it was undone (``undone_count``)."""
    key = payment.payment_id if not payment.undone_count else f"{payment.payment_id}:{payment.undone_count}"
    _emit(
        invoice,
        event_type,
        key,
        afterExpiration=payment.after_expiration,
        paymentMethodId=payment.payment_method_id,
        payment=payment_data(payment),
        **fields,
    )


def invoice_transition(
    *,
    invoice: Invoice,
    status: str,
    additional_status: str,
    actor: str,
    reason: str,
    over_paid: bool = False,
    partially_paid: bool = False,
) -> Invoice:
    """Move a LOCKED invoice to (status, additional_status), audit it and emit its webhook event.

    The caller holds the invoice's row lock (``invoices.locks.invoice_lock``) inside a transaction.
    A transition to the state the invoice is already in does nothing.
    """
    before, before_extra = invoice.status, invoice.additional_status
    if (before, before_extra) == (status, additional_status):
        return invoice
    if status not in TRANSITIONS[before]:
        raise InvalidTransition(f"An invoice cannot go from {before} to {status}")
    invoice.status = status
    invoice.additional_status = additional_status
    invoice.updated_at = timezone.now()
    invoice.full_clean(exclude=["store"], validate_unique=False, validate_constraints=False)
    invoice.save(update_fields=["status", "additional_status", "updated_at"])
    audit = InvoiceEvent(
        invoice=invoice,
        from_status=before,
        from_additional_status=before_extra,
        to_status=status,
        to_additional_status=additional_status,
        actor=actor[:200],
        reason=reason[:500],
    )
    audit.full_clean(exclude=["invoice"])
    audit.save()
    if status == before:
        return invoice  # additional status only (PaidPartial, PaidLate, PaidOver): no webhook type
    key = str(audit.pk)  # unique per transition, also when a reorg repeats a status
    manually = additional_status == A.MARKED
    if status == S.PROCESSING:
        _emit(invoice, EVENT_PROCESSING, key, overPaid=over_paid)
    elif status == S.SETTLED:
        _emit(invoice, EVENT_SETTLED, key, manuallyMarked=manually, overPaid=over_paid)
    elif status == S.EXPIRED:
        _emit(invoice, EVENT_EXPIRED, key, partiallyPaid=partially_paid)
    elif status == S.INVALID:
        _emit(invoice, EVENT_INVALID, key, manuallyMarked=manually)
    return invoice
