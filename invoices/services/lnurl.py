"""LNURL-pay for invoices (BTC-LNURL): the pay request and its callback minting a BOLT11 (LUD-01, LUD-06, LUD-12, LUD-17)."""
from __future__ import annotations

import json

from django.conf import settings
from django.db import transaction
from embit import bech32

from flashpay.errors import ApplicationError
from invoices.models import (
    Invoice,
    InvoiceLnurlInvoice,
    InvoicePaymentPrompt,
    InvoiceStatus,
    PaymentMethodId,
    StorePaymentMethod,
)
from invoices.selectors import invoice_paid
from invoices.services.nodes import lightning_backend
from invoices.services.store_payment_methods import connection_string_open
from lightning.services import lightning_invoice_create

# LUD-06 bounds for a top-up invoice (any amount): one sat up to 0.1 BTC per payment.
TOP_UP_MIN_MSAT = 1_000
TOP_UP_MAX_MSAT = 10_000_000_000
LUD12_MAX_COMMENT = 200


class LnurlError(ApplicationError):
    """Rendered as LUD-06's {"status": "ERROR", "reason": ...}."""

    code = "lnurl-error"
    status_code = 400


def lnurl_pay_url(invoice_id: str) -> str:
    return f"{settings.FLASHPAY_BASE_URL.rstrip('/')}/lnurlp/i/{invoice_id}"


def lnurl_encode(url: str, *, bech32_scheme: bool) -> str:
    """LUD-01: bech32 ``LNURL1...`` of the URL (no length limit), or LUD-17 ``lnurlp://host/path``."""
    if not bech32_scheme:
        return "lnurlp://" + url.split("://", 1)[1]
    data = bech32.convertbits(url.encode(), 8, 5, True)
    return bech32.bech32_encode(bech32.Encoding.BECH32, "lnurl", data).upper()


def _metadata(invoice: Invoice) -> str:
    description = str(invoice.metadata.get("itemDesc") or f"Invoice {invoice.pk}")[:300]
    return json.dumps([["text/plain", description]])


def _bounds(invoice: Invoice) -> tuple[int, int]:
    if invoice.amount_msat is None:
        return TOP_UP_MIN_MSAT, TOP_UP_MAX_MSAT
    due = invoice.amount_msat - invoice_paid(invoice=invoice).accounted_msat
    return due, due


def _prompt(invoice: Invoice) -> InvoicePaymentPrompt:
    prompt = invoice.prompts.filter(payment_method_id=PaymentMethodId.BTC_LNURL).first()
    if prompt is None:
        raise LnurlError("This invoice cannot be paid with LNURL", status_code=404)
    return prompt


def _options(invoice: Invoice) -> dict:
    method = StorePaymentMethod.objects.filter(store_id=invoice.store_id, payment_method_id=PaymentMethodId.BTC_LNURL).first()
    return method.lnurl_options if method else {}


def invoice_lnurl_pay_request(*, invoice: Invoice) -> dict:
    """LUD-06 ``payRequest`` for the invoice: exactly what is due (any amount for a top-up)."""
    _prompt(invoice)
    if invoice.status != InvoiceStatus.NEW:
        raise LnurlError(f"This invoice is {invoice.status} and takes no more payments")
    low, high = _bounds(invoice)
    if high <= 0:
        raise LnurlError("Nothing is due on this invoice")
    answer = {
        "tag": "payRequest",
        "callback": f"{lnurl_pay_url(invoice.pk)}/callback",
        "minSendable": low,
        "maxSendable": high,
        "metadata": _metadata(invoice),
    }
    if _options(invoice).get("lud12Enabled"):
        answer["commentAllowed"] = LUD12_MAX_COMMENT
    return answer


def invoice_lnurl_callback(*, invoice: Invoice, amount_msat: int, comment: str = "") -> InvoiceLnurlInvoice:
    """LUD-06 callback: mint a BOLT11 committing to the metadata hash for ``amount_msat`` (node call outside transactions)."""
    prompt = _prompt(invoice)
    if invoice.status != InvoiceStatus.NEW:
        raise LnurlError(f"This invoice is {invoice.status} and takes no more payments")
    low, high = _bounds(invoice)
    if not low <= amount_msat <= high:
        raise LnurlError(f"Amount must be between {low} and {high} msat")
    if comment and not _options(invoice).get("lud12Enabled"):
        comment = ""  # LUD-12: comments only when commentAllowed was offered
    if len(comment) > LUD12_MAX_COMMENT:
        raise LnurlError(f"The comment is longer than {LUD12_MAX_COMMENT} characters")
    ln = StorePaymentMethod.objects.filter(store_id=invoice.store_id, payment_method_id=PaymentMethodId.BTC_LN).first()
    if ln is None:
        raise LnurlError("The store has no Lightning node", status_code=503)
    backend = lightning_backend(None if ln.internal_node else connection_string_open(method=ln))
    expiry = max(int((invoice.expires_at - invoice.created_at).total_seconds()), 60)
    minted = lightning_invoice_create(backend=backend, amount_msat=amount_msat, description=_metadata(invoice), expiry=expiry)
    row = InvoiceLnurlInvoice(
        prompt=prompt, payment_hash=minted.payment_hash, bolt11=minted.bolt11, amount_msat=amount_msat, comment=comment
    )
    row.full_clean(exclude=["prompt"], validate_unique=False, validate_constraints=False)
    with transaction.atomic():
        row.save(force_insert=True)
    return row
