"""Reads of the invoices app that other apps use (invoices/selectors.py)."""
from decimal import Decimal

import pytest

from invoices.selectors import InvoiceMerchant, invoice_merchant_for_payment_hash
from tests.invoices.factories import make_invoice

pytestmark = pytest.mark.django_db


def test_merchant_of_a_payment_hash(shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="0.001", currency="BTC")
    payment_hash = invoice.prompts.get(payment_method_id="BTC-LN").payment_hash
    assert invoice_merchant_for_payment_hash(payment_hash=payment_hash) == InvoiceMerchant(
        store_id=store.pk, store_name=store.name
    )
    assert invoice_merchant_for_payment_hash(payment_hash="00" * 32) is None
    assert invoice.amount == Decimal("0.001")
