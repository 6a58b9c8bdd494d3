"""Outbox event handlers of the cards app (registered in CardsConfig.ready())."""

from __future__ import annotations

from cards.services.settlement import card_payment_merchant_set
from cards.services.topups import card_topup_credit


def lightning_invoice_settled(event) -> None:
    """A settled invoice of our node may be a card top-up: credit the card (idempotent)."""
    payload = event.payload
    received = payload.get("amount_received_msat") or payload.get("amount_msat") or 0
    card_topup_credit(payment_hash=payload["payment_hash"], amount_received_msat=int(received))


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
