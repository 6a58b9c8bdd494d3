"""django-q2 tasks of the invoices app: expiry, own-node payment polling, BOLT11s for what is still due."""
from __future__ import annotations

from invoices.models import InvoicePaymentPrompt
from invoices.services.invoices import invoices_expire
from invoices.services.remainder import (
    invoice_lightning_remainder_refresh,
    invoice_lightning_remainders_sweep,
    invoice_lnurl_bolt11s_cancel,
    invoice_prompt_node_cancel,
)


def invoices_expire_task() -> int:
    """Expire New invoices past their expiration, end monitoring (-> Invalid); safe to run twice."""
    return invoices_expire()


def invoices_own_node_sync_task() -> int:
    """Record payments to invoices minted on merchants' own Lightning nodes (polled by payment hash)."""
    from invoices.services.payments import invoice_own_node_payments_sync

    return invoice_own_node_payments_sync()


def invoice_lightning_remainder_task(invoice_id: str) -> bool:
    """After a payment to a New invoice commits: a BOLT11 for exactly what is still due (queued on commit)."""
    return invoice_lightning_remainder_refresh(invoice_id=invoice_id) is not None


def invoice_prompt_node_cancel_task(prompt_id: int) -> bool:
    """After a BOLT11 is replaced: cancel the old one on its node (queued on commit)."""
    prompt = InvoicePaymentPrompt.objects.select_related("invoice").filter(pk=prompt_id).first()
    if prompt is None:
        return False
    return invoice_prompt_node_cancel(prompt=prompt).node_canceled_at is not None


def invoice_lnurl_bolt11s_cancel_task(invoice_id: str) -> int:
    """After a BOLT11 is replaced: cancel the LNURL-pay BOLT11s asking for more than is due (queued on commit)."""
    return len(invoice_lnurl_bolt11s_cancel(invoice_id=invoice_id))


def invoice_lightning_remainders_sweep_task() -> int:
    """Mint the BOLT11s for the rest, cancel the replaced ones and the LNURL-pay ones for more than is due,
    where their tasks were lost or failed."""
    return invoice_lightning_remainders_sweep()
