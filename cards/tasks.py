"""django-q2 tasks of the cards app: reconcile pending card payments, settlement, purges."""

from __future__ import annotations

from cards.services.payments import card_payments_reconcile
from cards.services.ratelimit import ratelimit_purge
from cards.services.settlement import card_payment_merchants_resolve, settlement_run


def card_payments_reconcile_task() -> int:
    """Settle pending external card payments the node has an answer for; name the merchants of
    internal ones (so history shows them before the day's settlement)."""
    settled = card_payments_reconcile()
    card_payment_merchants_resolve()
    return settled


def settlement_run_task() -> int:
    return len(settlement_run())


def ratelimit_purge_task() -> int:
    return ratelimit_purge()
