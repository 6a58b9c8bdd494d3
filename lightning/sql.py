"""Hand-written statements of the lightning app: SQL compiled once (flashpay.sql).

``tests/lightning/test_sql.py`` holds each against the ORM.
"""
from __future__ import annotations

from flashpay.sql import ModelInsert
from lightning.models import LightningInvoice

# Every invoice created with BTC-LN writes one.
INSERT_INVOICE = ModelInsert(LightningInvoice)
