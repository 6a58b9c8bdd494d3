"""Outbox event handlers of the cards app (registered in CardsConfig.ready())."""

from __future__ import annotations

from cards.services.topups import card_topup_credit


def lightning_invoice_settled(event) -> None:
    """A settled invoice of our node may be a card top-up: credit the card (idempotent)."""
    payload = event.payload
    received = payload.get("amount_received_msat") or payload.get("amount_msat") or 0
    card_topup_credit(payment_hash=payload["payment_hash"], amount_received_msat=int(received))
