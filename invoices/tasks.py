"""django-q2 tasks of the invoices app: the periodic expiry of invoices."""
from __future__ import annotations

from invoices.services.invoices import invoices_expire


def invoices_expire_task() -> int:
    """Expire New invoices past their expiration, end monitoring (-> Invalid); safe to run twice."""
    return invoices_expire()


def invoices_own_node_sync_task() -> int:
    """Record payments to invoices minted on merchants' own Lightning nodes (polled by payment hash)."""
    from invoices.services.payments import invoice_own_node_payments_sync

    return invoice_own_node_payments_sync()
