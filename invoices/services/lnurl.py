"""LNURL-pay for invoices (BTC-LNURL): the pay request and its callback minting a BOLT11 (LUD-01, LUD-06, LUD-12, LUD-17).

The callback is public and each call could mint an invoice on the node, so it is rate limited per
client IP and per invoice (LNURL_CALLBACK_RATE_PER_IP / _PER_INVOICE), and a wallet asking again
for the same amount (and comment) gets the BOLT11 it already had while that one can still be paid.
"""
from __future__ import annotations

import json
import math
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from embit import bech32

from flashpay.errors import ApplicationError
from flashpay.ratelimit.services import ratelimit_enforce
from invoices.models import (
    Invoice,
    InvoiceLnurlInvoice,
    InvoicePayment,
    InvoicePaymentPrompt,
    InvoiceStatus,
    PaymentMethodId,
    StorePaymentMethod,
)
from invoices.selectors import invoice_get, invoice_paid
from invoices.services.store_payment_methods import store_lightning_backend
from lightning.selectors import lightning_invoice_get
from lightning.services import lightning_invoice_create

# LUD-06 bounds for a top-up invoice (any amount): one sat up to 0.1 BTC per payment.
TOP_UP_MIN_MSAT = 1_000
TOP_UP_MAX_MSAT = 10_000_000_000
LUD12_MAX_COMMENT = 200
# A BOLT11 closer than this to its expiry is not handed out again: the wallet might not make it.
REUSE_MIN_TIME_LEFT = timedelta(seconds=30)


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


def _ensure_payable(invoice: Invoice) -> None:
    # Past its expiration an invoice takes no payment even before the worker marks it Expired.
    status = InvoiceStatus.EXPIRED if invoice.status == InvoiceStatus.NEW and invoice.expires_at <= timezone.now() else invoice.status
    if status != InvoiceStatus.NEW:
        raise LnurlError(f"This invoice is {status} and takes no more payments")


def _options(invoice: Invoice) -> dict:
    method = StorePaymentMethod.objects.filter(store_id=invoice.store_id, payment_method_id=PaymentMethodId.BTC_LNURL).first()
    return method.lnurl_options if method else {}


def invoice_lnurl_pay_request(*, invoice: Invoice) -> dict:
    """LUD-06 ``payRequest`` for the invoice: exactly what is due (any amount for a top-up)."""
    _prompt(invoice)
    _ensure_payable(invoice)
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


def _reusable(*, prompt: InvoicePaymentPrompt, amount_msat: int, comment: str) -> InvoiceLnurlInvoice | None:
    """The latest BOLT11 minted for this amount and comment that is unpaid and not about to expire."""
    row = (
        prompt.lnurl_invoices.filter(amount_msat=amount_msat, comment=comment)
        .exclude(payment_hash__in=InvoicePayment.objects.filter(prompt=prompt).values("payment_id"))
        .order_by("-pk")
        .first()
    )
    if row is None:
        return None
    minted = lightning_invoice_get(payment_hash=row.payment_hash)
    if minted is None or minted.status != minted.Status.OPEN or minted.expires_at - timezone.now() < REUSE_MIN_TIME_LEFT:
        return None
    return row


def invoice_lnurl_callback(
    *, invoice_id: str, amount_msat: int, comment: str = "", ip: str | None = None
) -> InvoiceLnurlInvoice:
    """LUD-06 callback: a BOLT11 committing to the metadata hash for ``amount_msat`` (node call outside transactions).

    Refused with a 429 ``RateLimited`` over the per-IP or per-invoice limit, and with an
    ``LnurlError`` (nothing asked of the node) when the invoice takes no payment or the amount is off.
    """
    if ip:
        ratelimit_enforce(
            key=f"lnurlp-ip:{ip}",
            limit=settings.LNURL_CALLBACK_RATE_PER_IP,
            message="Too many payment requests from this address, try again in a minute",
        )
    invoice = invoice_get(invoice_id=invoice_id)
    ratelimit_enforce(
        key=f"lnurlp-invoice:{invoice.pk}",
        limit=settings.LNURL_CALLBACK_RATE_PER_INVOICE,
        message="Too many payment requests for this invoice, try again in a minute",
    )
    prompt = _prompt(invoice)
    _ensure_payable(invoice)
    low, high = _bounds(invoice)
    if not low <= amount_msat <= high:
        raise LnurlError(f"Amount must be between {low} and {high} msat")
    if comment and not _options(invoice).get("lud12Enabled"):
        comment = ""  # LUD-12: comments only when commentAllowed was offered
    if len(comment) > LUD12_MAX_COMMENT:
        raise LnurlError(f"The comment is longer than {LUD12_MAX_COMMENT} characters")
    # A wallet retrying (or a client hammering) must not make the node mint invoice after invoice.
    reused = _reusable(prompt=prompt, amount_msat=amount_msat, comment=comment)
    if reused is not None:
        return reused
    ln = StorePaymentMethod.objects.filter(store_id=invoice.store_id, payment_method_id=PaymentMethodId.BTC_LN).first()
    if ln is None:
        raise LnurlError("The store has no Lightning node", status_code=503)
    backend = store_lightning_backend(method=ln)
    # The BOLT11 expires with the invoice (not a whole invoice lifetime from now): one minted late
    # must not be payable after the invoice expired. _ensure_payable left at least a moment.
    expiry = max(math.ceil((invoice.expires_at - timezone.now()).total_seconds()), 1)
    minted = lightning_invoice_create(backend=backend, amount_msat=amount_msat, description=_metadata(invoice), expiry=expiry)
    row = InvoiceLnurlInvoice(
        prompt=prompt, payment_hash=minted.payment_hash, bolt11=minted.bolt11, amount_msat=amount_msat, comment=comment
    )
    row.full_clean(exclude=["prompt"], validate_unique=False, validate_constraints=False)
    with transaction.atomic():
        row.save(force_insert=True)
    return row
