"""Outbox event handlers of the cards app (registered in CardsConfig.ready())."""

from __future__ import annotations

from cards.services.settlement import card_payment_merchant_set
from cards.services.topups import TOPUP_METADATA_KEY, card_topup_payment_apply


def invoice_payment_settled(event) -> None:
    """Greenfield ``InvoicePaymentSettled``: a Lightning payment's id is its payment hash, so a
    card payment of that invoice learns which store it paid (for history and settlement)."""
    payload = event.payload
    if payload.get("paymentMethodId") != "BTC-LN":
        return
    payment_hash = (payload.get("payment") or {}).get("id") or ""
    store_id = payload.get("storeId") or ""
    if payment_hash and store_id:
        card_payment_merchant_set(payment_hash=payment_hash, store_id=store_id)


def invoice_payment_topup(event) -> None:
    """InvoiceReceivedPayment, InvoicePaymentSettled and InvoicePaymentUndone of a top-up
    invoice: bring that payment's money on the card in line with the payment's CURRENT status
    (held while Processing, credited once Settled, taken back when undone), whatever the method.

    The status is read from the invoices app, not from the event: an older event delivered after
    a newer one must not move money back.
    """
    from invoices.selectors import invoice_payment_state

    payload = event.payload
    payment_id = (payload.get("payment") or {}).get("id")
    invoice_id = payload.get("invoiceId")
    if not invoice_id or not payment_id:
        return
    current = invoice_payment_state(payment_id=payment_id)
    if current is None or current.invoice_id != invoice_id:
        return
    card_topup_payment_apply(
        invoice_id=invoice_id,
        payment_id=payment_id,
        amount_msat=current.amount_msat,
        status=current.status,
        is_topup_invoice=bool((payload.get("metadata") or {}).get(TOPUP_METADATA_KEY)),
    )


# The name this handler had before it followed every payment event: deliveries queued under it
# in an existing database still find it.
invoice_payment_settled_topup = invoice_payment_topup
