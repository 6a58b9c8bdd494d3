"""Reads of the on-chain side: payments, confirmation depth, the chain cursor."""
from __future__ import annotations

from django.db.models import QuerySet

from invoices.models import ChainCursor, OnchainPayment, WatchedAddress


def onchain_cursor_get(*, wallet: str) -> ChainCursor | None:
    return ChainCursor.objects.filter(wallet=wallet).first()


def onchain_payment_confirmations(*, payment: OnchainPayment, tip_height: int) -> int:
    """Confirmations of a payment at chain height ``tip_height`` (0 while unconfirmed or removed)."""
    if payment.status != OnchainPayment.Status.CONFIRMED or payment.block_height is None:
        return 0
    return max(tip_height - payment.block_height + 1, 0)


def onchain_payments_for_address(*, address: str) -> QuerySet[OnchainPayment]:
    return OnchainPayment.objects.filter(address__address=address).order_by("pk")


def onchain_watched_address_get(*, address: str) -> WatchedAddress | None:
    return WatchedAddress.objects.filter(address=address).first()
