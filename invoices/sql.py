"""Hand-written statements of invoice creation, the busiest write path, and of the lookup every
card payment callback makes: SQL compiled once (flashpay.sql).

``tests/invoices/test_sql.py`` holds each against the ORM. The on-chain side has its own
(``invoices/onchain/sql.py``).
"""
from __future__ import annotations

from flashpay.accounts.models import Store
from flashpay.sql import ModelInsert, ModelSelect, Names, execute_hot
from invoices.models import (
    Invoice,
    InvoiceEvent,
    InvoicePaymentPrompt,
    PaymentMethodId,
    StorePaymentMethod,
)

# A store's payment methods with their on-chain descriptor (params: store id, enabled).
STORE_METHODS_BY_ENABLED = ModelSelect(
    StorePaymentMethod, related=["onchain_descriptor"], where="{t.store} = %s AND {t.enabled} = %s"
)
INSERT_INVOICE = ModelInsert(Invoice)
INSERT_PROMPTS = ModelInsert(InvoicePaymentPrompt)
INSERT_INVOICE_EVENTS = ModelInsert(InvoiceEvent)

_p, _i, _s = Names(InvoicePaymentPrompt, alias="p"), Names(Invoice, alias="i"), Names(Store, alias="s")
# The store (id, name) whose invoice's BTC-LN BOLT11 has a payment hash (params: payment hash,
# payment method id): a Flash Card paying one of our node's invoices names its merchant with it.
MERCHANT_BY_PAYMENT_HASH = (
    f"SELECT {_i.store}, {_s.name} FROM {Names(InvoicePaymentPrompt)} p"  # noqa: S608 - names from _meta
    f" JOIN {Names(Invoice)} i ON {_i.pk} = {_p.invoice}"
    f" JOIN {Names(Store)} s ON {_s.pk} = {_i.store}"
    f" WHERE {_p.payment_hash} = %s AND {_p.payment_method_id} = %s"
)


def merchant_by_payment_hash(payment_hash: str) -> tuple[str, str] | None:
    """(store id, store name) of the store whose invoice's BOLT11 has this payment hash, or None."""
    rows = execute_hot(MERCHANT_BY_PAYMENT_HASH, [payment_hash, PaymentMethodId.BTC_LN.value])
    return (rows[0][0], rows[0][1]) if rows else None
