"""django-q2 tasks of the cards app: reconcile pending card payments, settlement, purges."""

from __future__ import annotations

from cards.models import CardPayment
from cards.services.payments import (
    card_payment_node_invoice_cancel,
    card_payments_node_invoices_cancel,
    card_payments_reconcile,
)
from cards.services.settlement import card_payment_merchants_resolve, settlement_run
from cards.services.taps import tap_offers_purge


def card_payments_reconcile_task() -> int:
    """Settle pending external card payments the node has an answer for; name the merchants of
    internal ones (so history shows them before the day's settlement)."""
    settled = card_payments_reconcile()
    card_payment_merchants_resolve()
    return settled


def card_payment_node_invoice_cancel_task(payment_id: int) -> bool:
    """After an internal card payment commits: cancel its invoice on the node (queued on commit)."""
    payment = CardPayment.objects.filter(pk=payment_id).first()
    if payment is None:
        return False
    return card_payment_node_invoice_cancel(payment=payment).node_invoice_canceled_at is not None


def card_payments_node_invoices_cancel_task() -> int:
    """Retry the node cancels that failed or were never queued."""
    return card_payments_node_invoices_cancel()


def settlement_run_task() -> int:
    return len(settlement_run())


def tap_offers_purge_task() -> int:
    return tap_offers_purge()
