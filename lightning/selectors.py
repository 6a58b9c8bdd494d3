"""Reads of the lightning app."""
from lightning.models import LightningInvoice, LightningSettleCursor


def lightning_invoice_get(*, payment_hash: str) -> LightningInvoice | None:
    return LightningInvoice.objects.filter(payment_hash=payment_hash).first()


def lightning_settle_cursor_get(*, node_pubkey: str) -> int:
    cursor = LightningSettleCursor.objects.filter(node_pubkey=node_pubkey).first()
    return cursor.settle_index if cursor else 0


def lightning_invoices_open(*, node_pubkey: str):
    return LightningInvoice.objects.filter(
        node_pubkey=node_pubkey, status=LightningInvoice.Status.OPEN
    ).order_by("pk")
