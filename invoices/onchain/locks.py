"""Row locks of the on-chain tables (select_for_update in a stable order)."""
from __future__ import annotations

from invoices.models import ChainCursor, OnchainDescriptor, OnchainPayment


def lock_descriptor(*, pk: int) -> OnchainDescriptor:
    return OnchainDescriptor.objects.select_for_update(no_key=True, of=("self",)).get(pk=pk)


def lock_cursor(*, wallet: str) -> ChainCursor | None:
    return ChainCursor.objects.select_for_update(no_key=True, of=("self",)).filter(wallet=wallet).first()


def lock_payments(*, txids: set[str]) -> list[OnchainPayment]:
    return list(
        OnchainPayment.objects.select_for_update(no_key=True, of=("self",))
        .select_related("address")  # read for event payloads; only the payment rows are locked
        .filter(txid__in=txids)
        .order_by("pk")
    )
