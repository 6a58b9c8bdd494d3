"""Row locks of the invoice tables (select_for_update, one invoice at a time)."""
from __future__ import annotations

from invoices.models import Invoice


def invoice_lock(*, invoice_id: str) -> Invoice:
    """The invoice row, locked for this transaction: every status change goes through here."""
    return Invoice.objects.select_for_update(no_key=True, of=("self",)).get(pk=invoice_id)
