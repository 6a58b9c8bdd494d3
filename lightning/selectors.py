"""Reads of the lightning app: its invoices and settle cursors, and (re-exported for other apps,
which reach lightning only through this module and ``lightning.services``) reading BOLT11 strings
(``lightning.bolt11_helpers``) and Lightning connection strings (``lightning.connection``)."""
from datetime import datetime

from lightning.bolt11_helpers import DecodedPaymentRequest as DecodedPaymentRequest
from lightning.bolt11_helpers import bolt11_normalise as bolt11_normalise
from lightning.bolt11_helpers import bolt11_payment_hash_unchecked as bolt11_payment_hash_unchecked
from lightning.bolt11_helpers import decode_bolt11 as decode_bolt11
from lightning.connection import parse_connection_string as parse_connection_string
from lightning.connection import parse_pairs as parse_pairs
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
