"""Outbox event handlers of the rewards app (registered in RewardsConfig.ready()).

Delivered at least once; every service called here is idempotent by the purchase's key (the
card payment's hash, the invoice's id), so a replay awards or claws back nothing twice.

Earning:
- ``CardPaymentSucceeded`` (cards): the holder earns at the merchant store it names.
- ``InvoicePaymentSettled`` (invoices) of a Lightning payment that a Flash Card made: the card
  payment earns at that store (the merchant of a card payment may be known only from here), and
  the award learns its invoice either way.
- ``InvoiceSettled`` (invoices): the member the invoice names earns (rewards.services.earning).

Clawback of points still pending:
- ``InvoiceInvalid`` and ``InvoiceRefunded`` (payload ``invoiceId``): every purchase award of
  that invoice (paid by card or not). ``InvoiceRefunded`` is the event the refunds feature
  emits when a refund of an invoice is issued; any refund claws the whole award back.
- ``CardPaymentReversed`` (payload ``payment_hash``): the award of that card payment.
- ``InvoicePaymentUndone`` (invoices: a reorg or a double spend took a payment out of the chain,
  or its transaction left the mempool unconfirmed): the awards of the invoice it was for.
"""
from __future__ import annotations

from flashpay.events.models import Event
from rewards.services.earning import award_earn_for_card_payment, award_earn_for_invoice
from rewards.services.lifecycle import awards_clawback


def card_payment_succeeded(event: Event) -> None:
    data = event.payload
    award_earn_for_card_payment(
        payment_hash=data.get("payment_hash") or "",
        holder_id=data.get("holderId"),
        store_id=data.get("merchantStoreId"),
        amount_msat=int(data.get("amount_msat") or 0),
        occurred_at=event.created_at,
    )


def invoice_payment_settled(event: Event) -> None:
    from cards.selectors import card_payment_for_hash

    data = event.payload
    if data.get("paymentMethodId") != "BTC-LN":
        return
    payment = card_payment_for_hash(payment_hash=(data.get("payment") or {}).get("id") or "")
    if payment is None or payment.status != "succeeded":
        return
    award_earn_for_card_payment(
        payment_hash=payment.payment_hash,
        holder_id=payment.card.holder_id,
        store_id=data.get("storeId"),
        amount_msat=payment.amount_msat,
        occurred_at=payment.finished_at or event.created_at,
        invoice_id=data.get("invoiceId") or "",
    )


def invoice_settled(event: Event) -> None:
    invoice_id = event.payload.get("invoiceId")
    if invoice_id:
        award_earn_for_invoice(invoice_id=invoice_id, occurred_at=event.created_at)


def invoice_invalid(event: Event) -> None:
    awards_clawback(invoice_id=event.payload.get("invoiceId") or "", reason="the invoice was marked invalid")


def invoice_refunded(event: Event) -> None:
    awards_clawback(invoice_id=event.payload.get("invoiceId") or "", reason="the purchase was refunded")


def card_payment_reversed(event: Event) -> None:
    payment_hash = event.payload.get("payment_hash") or ""
    if payment_hash:
        awards_clawback(idempotency_key=f"card-payment:{payment_hash}", reason="the card payment was reversed")


def invoice_payment_undone(event: Event) -> None:
    invoice_id = event.payload.get("invoiceId") or ""
    if invoice_id:
        awards_clawback(invoice_id=invoice_id, reason="its payment was undone (a reorg or a double spend)")
