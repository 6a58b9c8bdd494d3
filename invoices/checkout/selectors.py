"""Reads behind the hosted checkout: the page's screens and QR tabs, the polled status, the receipt."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from urllib.parse import quote

from django.db.models import OuterRef, Subquery

from flashpay.errors import NotFound
from flashpay.money import MSAT_PER_BTC, MSAT_PER_SAT
from flashpay.qr import qr_svg
from invoices.models import (
    Invoice,
    InvoicePaymentPrompt,
    InvoiceStatus,
    InvoiceType,
    PaymentMethodId,
)
from invoices.selectors import (
    BITCOIN_CURRENCIES,
    btc_text,
    checkout_link,
    invoice_amount_text,
    invoice_get,
    invoice_paid,
    invoice_paid_msat_subquery,
    invoice_payment_methods_data,
    invoice_rate_text,
    unix,
)

PAID_STATUSES = (InvoiceStatus.PROCESSING, InvoiceStatus.SETTLED)


def invoice_checkout_data(*, invoice_id: str) -> dict:
    """Everything the hosted checkout page /i/<invoiceId> shows, as JSON (public: no secrets).

    Includes the unified BIP21 link ``bitcoin:ADDRESS?amount=BTC&lightning=BOLT11`` (upper-cased
    for the QR code, where the alphanumeric mode makes it denser).
    """
    invoice = invoice_get(invoice_id=invoice_id)
    methods = invoice_payment_methods_data(invoice=invoice)
    chain = next((m for m in methods if m["paymentMethodId"] == PaymentMethodId.BTC_CHAIN), None)
    ln = next((m for m in methods if m["paymentMethodId"] == PaymentMethodId.BTC_LN), None)
    due_msat = None
    paid_msat = invoice_paid(invoice=invoice).accounted_msat
    if invoice.amount_msat is not None:
        due_msat = max(invoice.amount_msat - paid_msat, 0)
    if ln is not None and not ln["activated"]:
        # A BOLT11 cannot change its amount: after a partial payment the QR offers the on-chain
        # remainder alone until the BOLT11 for the rest is minted (invoices/services/remainder.py).
        ln = None
    unified = unified_qr = None
    if chain is not None:
        unified = chain["paymentLink"]
        # BIP21: scheme, address and BOLT11 upper-case for a dense QR; parameter names stay lower-case
        unified_qr = unified.replace(chain["destination"], chain["destination"].upper()).replace("bitcoin:", "BITCOIN:")
        if ln is not None:
            sep = "&" if "?" in unified else "?"
            unified += f"{sep}lightning={ln['destination']}"
            unified_qr += f"{sep}lightning={ln['destination'].upper()}"
    elif ln is not None:
        unified = ln["paymentLink"]
        unified_qr = unified.upper()
    store = invoice.store
    return {
        "invoiceId": invoice.pk,
        "storeId": store.pk,
        "storeName": store.name,
        "logoUrl": store.logo_url or None,
        "brandColor": store.brand_color or None,
        "status": invoice.status,
        "additionalStatus": invoice.additional_status,
        "type": invoice.type,
        "amount": invoice_amount_text(invoice),
        "currency": invoice.currency,
        "amountMsat": invoice.amount_msat,
        "dueMsat": due_msat,
        "dueBtc": btc_text(due_msat) if due_msat is not None else None,
        "rate": invoice_rate_text(invoice),
        "expirationTime": unix(invoice.expires_at),
        "displayExpirationTimer": store.display_expiration_timer,
        "defaultLanguage": invoice.checkout.get("defaultLanguage") or store.default_lang,
        "defaultPaymentMethod": invoice.checkout.get("defaultPaymentMethod"),
        "redirectURL": invoice_redirect_url(invoice),
        "redirectAutomatically": bool(invoice.checkout.get("redirectAutomatically")),
        "itemDesc": invoice.metadata.get("itemDesc") if isinstance(invoice.metadata, dict) else None,
        "paymentMethods": methods,
        "unifiedLink": unified,
        "unifiedQr": unified_qr,
        "receipt": invoice.receipt,
        "isPaid": invoice.status in (InvoiceStatus.PROCESSING, InvoiceStatus.SETTLED),
        "isTopUp": invoice.type == InvoiceType.TOP_UP,
    }


def invoice_redirect_url(invoice: Invoice) -> str | None:
    """The redirect URL with Greenfield's placeholders ``{InvoiceId}`` and ``{OrderId}`` filled in."""
    url = invoice.checkout.get("redirectURL")
    if not url:
        return None
    return url.replace("{InvoiceId}", quote(invoice.pk, safe="")).replace(
        "{OrderId}", quote(invoice.order_id or "", safe="")
    )


def checkout_screen(*, status: str, additional_status: str) -> str:
    """Which screen the page shows: pay, partial, paid (Processing), settled, expired or invalid."""
    if status == InvoiceStatus.SETTLED:
        return "settled"
    if status == InvoiceStatus.PROCESSING:
        return "paid"
    if status == InvoiceStatus.EXPIRED:
        return "expired"
    if status == InvoiceStatus.INVALID:
        return "invalid"
    if additional_status == "PaidPartial":
        return "partial"
    return "pay"


def checkout_version(*, status: str, additional_status: str, paid_msat: int, ln_prompt_id: int | None) -> str:
    """What the page was rendered from; the script re-fetches the panel when the polled one differs.

    The current BTC-LN prompt is part of it: the BOLT11 for the rest of a partly paid invoice is
    minted after the payment, and the page must then show it.
    """
    return f"{status}.{additional_status}.{paid_msat}.{ln_prompt_id or 0}"


def _ln_prompt_id_subquery() -> Subquery:
    return Subquery(
        InvoicePaymentPrompt.objects.filter(
            invoice=OuterRef("pk"), payment_method_id=PaymentMethodId.BTC_LN, superseded_at__isnull=True
        ).values("pk")[:1]
    )


def sats_text(msat: int) -> str:
    """Whole sats, rounded up: a wallet can only send whole sats on-chain, and less would underpay."""
    sats = (Decimal(msat) / MSAT_PER_SAT).to_integral_value(rounding=ROUND_CEILING)
    return f"{sats:,}"


def _fiat_text(*, msat: int, rate: str) -> str:
    value = (Decimal(msat) * Decimal(rate) / MSAT_PER_BTC).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return f"{value:,.2f}"


def checkout_status_data(*, invoice_id: str) -> dict:
    """The small JSON the page polls: one query on the invoice's primary key (payments summed inside)."""
    row = (
        Invoice.objects.filter(pk=invoice_id)
        .annotate(paid_msat=invoice_paid_msat_subquery(), ln_prompt_id=_ln_prompt_id_subquery())
        .values("status", "additional_status", "expires_at", "checkout", "order_id", "paid_msat", "ln_prompt_id")
        .first()
    )
    if row is None:
        raise NotFound("The invoice was not found", code="invoice-not-found")
    status, extra, paid_msat = row["status"], row["additional_status"], int(row["paid_msat"])
    redirect = None
    checkout = row["checkout"] if isinstance(row["checkout"], dict) else {}
    if status in PAID_STATUSES and checkout.get("redirectAutomatically"):
        redirect = invoice_redirect_url(Invoice(id=invoice_id, checkout=checkout, order_id=row["order_id"]))
    return {
        "status": status,
        "additionalStatus": extra,
        "screen": checkout_screen(status=status, additional_status=extra),
        "version": checkout_version(
            status=status, additional_status=extra, paid_msat=paid_msat, ln_prompt_id=row["ln_prompt_id"]
        ),
        "expirationTime": int(row["expires_at"].timestamp()),
        "redirectURL": redirect,
    }


def _tabs(data: dict, preferred: str | None = None) -> list[dict]:
    """The QR tabs: unified (BIP21 with lightning=), on-chain only and Lightning only; the shown one first.

    No text here: the template translates labels by tab id, in the language the view picked.
    ``qrText`` is what each tab's QR code encodes. Only the first tab's is drawn into the page
    (_tabs_drawn); the hidden ones load as images when shown (checkout_tab_qr): drawing one
    takes ~15 ms, most of a first view.
    """
    methods = {m["paymentMethodId"]: m for m in data["paymentMethods"]}
    chain = methods.get(PaymentMethodId.BTC_CHAIN)
    ln = methods.get(PaymentMethodId.BTC_LN)
    if ln is not None and not ln["activated"]:
        ln = None  # partly paid: the BOLT11 for the rest is not minted yet (see invoice_checkout_data)
    tabs = []
    if chain is not None and ln is not None:
        tabs.append({"id": "unified", "link": data["unifiedLink"], "copy": data["unifiedLink"], "qrText": data["unifiedQr"]})
    if chain is not None:
        link = chain["paymentLink"]
        # upper-case for the QR's alphanumeric mode, as for the unified link
        qr_text = link.replace(chain["destination"], chain["destination"].upper()).replace("bitcoin:", "BITCOIN:", 1)
        tabs.append({"id": "chain", "link": link, "copy": chain["destination"], "qrText": qr_text})
    if ln is not None:
        tabs.append({"id": "ln", "link": ln["paymentLink"], "copy": ln["destination"], "qrText": ln["paymentLink"].upper()})
    # the method the buyer was sent to (/i/<id>/<paymentMethodId>), else the invoice's default
    first = preferred if preferred in (PaymentMethodId.BTC_LN, PaymentMethodId.BTC_CHAIN) else data["defaultPaymentMethod"]
    if first == PaymentMethodId.BTC_LN:
        tabs.sort(key=lambda t: t["id"] != "ln")
    elif first == PaymentMethodId.BTC_CHAIN:
        tabs.sort(key=lambda t: t["id"] != "chain")
    return tabs


def _tabs_drawn(data: dict, preferred: str | None = None) -> list[dict]:
    """_tabs with the shown (first) tab's QR code drawn into ``qr``."""
    tabs = _tabs(data, preferred)
    if tabs:
        tabs[0]["qr"] = qr_svg(tabs[0]["qrText"])
    return tabs


def checkout_tab_qr(*, invoice_id: str, tab_id: str) -> str:
    """The SVG QR code of one tab of a payable invoice's checkout (NotFound when there is no such tab)."""
    data = invoice_checkout_data(invoice_id=invoice_id)
    if data["status"] == InvoiceStatus.NEW:
        for tab in _tabs(data):
            if tab["id"] == tab_id:
                return qr_svg(tab["qrText"])
    raise NotFound("No such QR code for this invoice", code="checkout-qr-not-found")


def checkout_page_data(*, invoice_id: str, payment_method_id: str | None = None) -> dict:
    """What /i/<invoiceId> renders: invoice_checkout_data plus the screen, display amounts and QR tabs.

    Public: only what BTCPay's checkout shows (store name, amounts, itemDesc, orderId, payment
    destinations); never the rest of the metadata, the buyer's e-mail or the wallet's derivation.
    """
    data = invoice_checkout_data(invoice_id=invoice_id)
    own = (
        Invoice.objects.filter(pk=invoice_id)
        .annotate(ln_prompt_id=_ln_prompt_id_subquery())
        .values("order_id", "checkout", "ln_prompt_id")
        .first()
        or {}
    )
    own_checkout = own.get("checkout") if isinstance(own.get("checkout"), dict) else {}
    paid_msat = (data["amountMsat"] or 0) - (data["dueMsat"] or 0) if data["amountMsat"] is not None else None
    if paid_msat is None:  # top-up: what was paid so far
        paid_msat = sum(
            int(Decimal(m["paymentMethodPaid"]) * MSAT_PER_BTC) for m in data["paymentMethods"]
        )
    fiat = data["currency"] not in BITCOIN_CURRENCIES
    due = data["dueMsat"]
    return {
        **data,
        "orderId": own.get("order_id") or "",
        # the invoice's own choice, as opposed to data["defaultLanguage"] which falls back to the store's
        "invoiceDefaultLanguage": own_checkout.get("defaultLanguage"),
        "screen": checkout_screen(status=data["status"], additional_status=data["additionalStatus"]),
        "version": checkout_version(
            status=data["status"], additional_status=data["additionalStatus"], paid_msat=paid_msat,
            ln_prompt_id=own.get("ln_prompt_id"),
        ),
        "isFiat": fiat,
        "rateText": f"{Decimal(data['rate']):,}" if fiat else None,
        "totalBtc": btc_text(data["amountMsat"]) if data["amountMsat"] is not None else None,
        "totalSats": sats_text(data["amountMsat"]) if data["amountMsat"] is not None else None,
        "dueSats": sats_text(due) if due is not None else None,
        "dueFiat": _fiat_text(msat=due, rate=data["rate"]) if fiat and due is not None else None,
        "paidBtc": btc_text(paid_msat),
        "tabs": _tabs_drawn(data, payment_method_id) if data["status"] == InvoiceStatus.NEW else [],
    }


def _moment(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds is not None else None


def checkout_receipt_data(*, invoice_id: str) -> dict | None:
    """The receipt /i/<invoiceId>/receipt; None while the invoice is not settled (BTCPay sends the buyer back).

    Raises NotFound for an unknown invoice or one whose receipt the merchant turned off.
    """
    invoice = invoice_get(invoice_id=invoice_id)
    receipt = invoice.receipt if isinstance(invoice.receipt, dict) else {}
    if receipt.get("enabled") is False:
        raise NotFound("The invoice was not found", code="invoice-not-found")
    if invoice.status != InvoiceStatus.SETTLED:
        return None
    payments = []
    if receipt.get("showPayments") is not False:
        for method in invoice_payment_methods_data(invoice=invoice):
            for payment in method["payments"]:
                payments.append({
                    "method": method["paymentMethodId"],
                    "value": payment["value"],
                    "id": payment["id"],
                    "received": _moment(payment["receivedDate"]),
                })
        payments.sort(key=lambda p: p["received"] or datetime.min.replace(tzinfo=UTC))
    metadata = invoice.metadata if isinstance(invoice.metadata, dict) else {}
    paid_msat = sum(int(Decimal(p["value"]) * MSAT_PER_BTC) for p in payments) if payments else None
    return {
        "invoiceId": invoice.pk,
        "storeName": invoice.store.name,
        "orderId": invoice.order_id,
        "itemDesc": metadata.get("itemDesc"),
        "amount": invoice_amount_text(invoice),
        "currency": invoice.currency,
        "payments": payments,
        "paidBtc": btc_text(paid_msat) if paid_msat is not None else None,
        "qr": qr_svg(f"{checkout_link(invoice)}/receipt")
        if receipt.get("showQR") is not False
        else None,
    }
