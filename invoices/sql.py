"""Hand-written statements of invoice creation, the busiest write path: SQL compiled once (flashpay.sql).

``tests/invoices/test_sql.py`` holds each against the ORM. The on-chain side has its own
(``invoices/onchain/sql.py``).
"""
from __future__ import annotations

from flashpay.sql import ModelInsert, ModelSelect
from invoices.models import Invoice, InvoiceEvent, InvoicePaymentPrompt, StorePaymentMethod

# A store's payment methods with their on-chain descriptor (params: store id, enabled).
STORE_METHODS_BY_ENABLED = ModelSelect(
    StorePaymentMethod, related=["onchain_descriptor"], where="{t.store} = %s AND {t.enabled} = %s"
)
INSERT_INVOICE = ModelInsert(Invoice)
INSERT_PROMPTS = ModelInsert(InvoicePaymentPrompt)
INSERT_INVOICE_EVENTS = ModelInsert(InvoiceEvent)
