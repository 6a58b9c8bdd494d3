"""Test helpers of the invoices area: payment setup of a store, invoices created through the real service."""
from __future__ import annotations

from decimal import Decimal

from invoices.models import Invoice
from invoices.services.invoices import invoice_create
from invoices.services.store_payment_methods import store_payment_method_update


def store_setup_payment_methods(*, store, xpub: str | None = None, lightning: str | None = "Internal Node") -> None:
    if xpub is not None:
        store_payment_method_update(store=store, payment_method_id="BTC-CHAIN", enabled=True, config=xpub)
    if lightning is not None:
        store_payment_method_update(
            store=store, payment_method_id="BTC-LN", enabled=True, config={"connectionString": lightning}
        )


def make_invoice(*, store, amount: str | None = "10.00", currency: str = "USD", **kwargs) -> Invoice:
    return invoice_create(
        store=store, amount=Decimal(amount) if amount is not None else None, currency=currency, **kwargs
    )
