"""Outbox event handlers of the cards app (registered in CardsConfig.ready())."""

from __future__ import annotations

from cards.services.settlement import card_payment_merchant_set
from cards.services.topups import TOPUP_METADATA_KEY, card_topup_payment_credit
from flashpay.money import Msat


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


def invoice_payment_settled_topup(event) -> None:
    """Greenfield ``InvoicePaymentSettled`` of a top-up invoice: credit that payment to the card
    (once per payment, whatever the method: Lightning, LNURL or on-chain)."""
    payload = event.payload
    payment = payload.get("payment") or {}
    if not payload.get("invoiceId") or not payment.get("id"):
        return
    # Greenfield amounts are BTC decimal strings; ours keep every msat digit (btc_text).
    amount_msat = Msat.from_btc(str(payment.get("value") or "0")).value
    if amount_msat <= 0:
        return
    card_topup_payment_credit(
        invoice_id=payload["invoiceId"],
        payment_id=payment["id"],
        amount_msat=amount_msat,
        is_topup_invoice=bool((payload.get("metadata") or {}).get(TOPUP_METADATA_KEY)),
    )
