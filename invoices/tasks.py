"""django-q2 tasks of the invoices app: the periodic expiry of invoices."""
from __future__ import annotations

from invoices.services.invoices import invoices_expire


def invoices_expire_task() -> int:
    """Expire New invoices past their expiration, end monitoring (-> Invalid); safe to run twice."""
    return invoices_expire()
