"""Reads of the lightning app."""
from datetime import datetime

from lightning.models import LightningInvoice, LightningSettleCursor


def lightning_invoice_get(*, payment_hash: str) -> LightningInvoice | None:
    return LightningInvoice.objects.filter(payment_hash=payment_hash).first()


def lightning_settle_cursor_get(*, node_pubkey: str) -> int:
    cursor = LightningSettleCursor.objects.filter(node_pubkey=node_pubkey).first()
    return cursor.settle_index if cursor else 0


def lightning_invoices_open(*, node_pubkey: str, expires_after: datetime | None = None):
    invoices = LightningInvoice.objects.filter(node_pubkey=node_pubkey, status=LightningInvoice.Status.OPEN)
    if expires_after is not None:
        invoices = invoices.filter(expires_at__gte=expires_after)
    return invoices.order_by("pk")
