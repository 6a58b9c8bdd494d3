"""Row locks of the lightning app (select_for_update helpers)."""
from lightning.models import LightningInvoice, LightningSettleCursor


def settle_cursor_lock(*, node_pubkey: str) -> LightningSettleCursor:
    """Lock (creating if needed) a node's settle cursor: one recorder at a time per node."""
    LightningSettleCursor.objects.get_or_create(node_pubkey=node_pubkey)
    return LightningSettleCursor.objects.select_for_update(no_key=True).get(node_pubkey=node_pubkey)


def invoice_lock(*, payment_hash: str) -> LightningInvoice | None:
    return (
        LightningInvoice.objects.select_for_update(no_key=True, of=("self",))
        .filter(payment_hash=payment_hash)
        .first()
    )
