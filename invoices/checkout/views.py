"""Views of the hosted checkout /i/<invoiceId>: the page, its polled status and panel, QR codes, the receipt.

Framing: the checkout may be shown inside an iframe on the merchant's site (BTCPay's modal
checkout does this), so it sends ``frame-ancestors *`` and no X-Frame-Options. Nothing on it acts
on the buyer's behalf (GET only, no session, no form that changes state), which is what a
clickjacking attack would need. The receipt keeps the site-wide X-Frame-Options: DENY.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation.trans_real import parse_accept_lang_header
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET

from flashpay.errors import NotFound
from flashpay.payment_method_ids import payment_method_id_parse
from invoices.checkout.selectors import (
    checkout_page_data,
    checkout_receipt_data,
    checkout_status_data,
    checkout_tab_qr,
)

# Scripts and styles only from our own static files (no inline code, no CDN); QR codes are SVG of our own.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'"
)

# A host[:port] that is safe to put in a CSP source list (no spaces, quotes or semicolons).
HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?")

STATUS_TEXTS = {
    "pay": _("Awaiting payment"),
    "partial": _("Partially paid"),
    "paid": _("Payment received"),
    "settled": _("Invoice paid"),
    "expired": _("Invoice expired"),
    "invalid": _("Invoice invalid"),
}


def _supported(code: str | None) -> str | None:
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code.strip().replace("_", "-").lower())
    except LookupError:
        return None


def _browser_language(request: HttpRequest) -> str | None:
    for code, _quality in parse_accept_lang_header(request.headers.get("Accept-Language", "")):
        if code != "*" and (found := _supported(code)):
            return found
    return None


def checkout_language(request: HttpRequest, *, invoice_language: str | None, store_language: str | None) -> str:
    """The buyer's choice (?lang=), else the invoice's defaultLanguage, else the browser's, else the store's."""
    return (
        _supported(request.GET.get("lang"))
        or _supported(invoice_language)
        or _browser_language(request)
        or _supported(store_language)
        or settings.LANGUAGE_CODE
    )


def _safe_redirect(url: str | None) -> str | None:
    """Only http(s) redirect targets: a javascript: URL set through the API must not run on our page."""
    if url and urlsplit(url).scheme in ("http", "https"):
        return url
    return None


def _logo(url: str | None) -> tuple[str | None, str | None]:
    """The store logo if it can be shown under our CSP: ours (a path) or https; and its origin for img-src."""
    if not url:
        return None, None
    if url.startswith("/") and not url.startswith("//"):
        return url, None
    parts = urlsplit(url)
    if parts.scheme == "https" and HOST.fullmatch(parts.netloc):
        return url, f"https://{parts.netloc}"
    return None, None


def _headers(response: HttpResponse, *, frame_ancestors: str | None = "*", img_origin: str | None = None) -> HttpResponse:
    csp = CSP.replace("img-src 'self' data:", f"img-src 'self' data: {img_origin}") if img_origin else CSP
    csp += f"; frame-ancestors {frame_ancestors}" if frame_ancestors else "; frame-ancestors 'none'"
    response["Content-Security-Policy"] = csp
    response["Cache-Control"] = "no-store"
    # the invoice id is in our URLs: do not hand it to the sites the buyer goes to next
    response["Referrer-Policy"] = "no-referrer"
    return response


def _not_found(request: HttpRequest, lang: str) -> HttpResponse:
    with translation.override(lang):
        response = render(request, "invoices/checkout/not_found.html", {"lang": lang}, status=404)
    return _headers(response, frame_ancestors=None)


def _preferred_method(request: HttpRequest, path_value: str | None) -> str | None:
    """BTCPay's /i/<id>/<paymentMethodId> or ?paymentMethodId=, in any spelling; unknown ones are ignored
    (BTCPay falls back to the default method too)."""
    method = payment_method_id_parse(path_value or request.GET.get("paymentMethodId"))
    return method.value if method is not None else None


def _page_context(request: HttpRequest, invoice_id: str, payment_method_id: str | None = None) -> tuple[dict, str]:
    preferred = _preferred_method(request, payment_method_id)
    data = checkout_page_data(invoice_id=invoice_id, payment_method_id=preferred)
    lang = checkout_language(
        request, invoice_language=data["invoiceDefaultLanguage"], store_language=data["defaultLanguage"]
    )
    logo, logo_origin = _logo(data["logoUrl"])
    with translation.override(lang):
        context = {
            "c": data,
            "logo": logo,
            "logo_origin": logo_origin,
            "lang": lang,
            "languages": settings.LANGUAGES,
            "status_text": str(STATUS_TEXTS[data["screen"]]),
            "redirect": _safe_redirect(data["redirectURL"]),
            "auto_redirect": data["isPaid"] and data["redirectAutomatically"] and _safe_redirect(data["redirectURL"]),
            # BTCPay's modal checkout (/modal/btcpay.js opens ?view=modal): a close button, and
            # links that leave the frame open in the shop's window
            "modal": request.GET.get("view") == "modal",
            "preferred_method": preferred,
            "receipt_url": reverse("checkout-receipt", args=[data["invoiceId"]])
            if data["receipt"].get("enabled") is not False
            else None,
        }
    return context, lang


@require_GET
@xframe_options_exempt
def checkout_page(request: HttpRequest, invoice_id: str, payment_method_id: str | None = None) -> HttpResponse:
    try:
        context, lang = _page_context(request, invoice_id, payment_method_id)
    except NotFound:
        return _not_found(request, _browser_language(request) or settings.LANGUAGE_CODE)
    with translation.override(lang):
        response = render(request, "invoices/checkout/page.html", context)
    response["Content-Language"] = lang
    return _headers(response, img_origin=context["logo_origin"])


@require_GET
@xframe_options_exempt
def checkout_by_query(request: HttpRequest) -> HttpResponse:
    """BitPay's and BTCPay's /invoice?id=<invoiceId> (what btcpay.js opened before 2.x): the checkout page."""
    return checkout_page(request, invoice_id=(request.GET.get("id") or "")[:100])


MODAL_SCRIPT = Path(__file__).resolve().parent / "static" / "invoices" / "modal" / "btcpay.js"


@require_GET
def modal_script(request: HttpRequest) -> HttpResponse:
    """/modal/btcpay.js, where shop plugins load BTCPay's modal checkout script from."""
    response = HttpResponse(MODAL_SCRIPT.read_bytes(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
@xframe_options_exempt
def checkout_panel(request: HttpRequest, invoice_id: str) -> HttpResponse:
    """The page's changing part, re-fetched by the script when the polled status moves on."""
    try:
        context, lang = _page_context(request, invoice_id)
    except NotFound:
        return _not_found(request, _browser_language(request) or settings.LANGUAGE_CODE)
    with translation.override(lang):
        response = render(request, "invoices/checkout/_panel.html", context)
    response["Content-Language"] = lang
    return _headers(response)


@require_GET
def checkout_qr(request: HttpRequest, invoice_id: str, tab: str) -> HttpResponse:
    """The QR code of a hidden checkout tab, as an SVG image, loaded when the buyer opens the tab."""
    try:
        svg = checkout_tab_qr(invoice_id=invoice_id, tab_id=tab)
    except NotFound as error:
        return _headers(JsonResponse({"code": error.code, "message": str(error.message)}, status=404))
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["X-Content-Type-Options"] = "nosniff"
    return _headers(response)


@require_GET
def checkout_status(request: HttpRequest, invoice_id: str) -> JsonResponse:
    """The polled status: public and cheap (one query by primary key), never cached."""
    try:
        data = checkout_status_data(invoice_id=invoice_id)
    except NotFound as error:
        return _headers(JsonResponse({"code": error.code, "message": str(error.message)}, status=404))
    data["redirectURL"] = _safe_redirect(data["redirectURL"])
    return _headers(JsonResponse(data))


@require_GET
def checkout_receipt(request: HttpRequest, invoice_id: str) -> HttpResponse:
    """BTCPay's receipt: only for a settled invoice (else back to the checkout), 404 when turned off."""
    lang = _supported(request.GET.get("lang")) or _browser_language(request) or settings.LANGUAGE_CODE
    try:
        data = checkout_receipt_data(invoice_id=invoice_id)
    except NotFound:
        return _not_found(request, lang)
    if data is None:
        return redirect("checkout", invoice_id=invoice_id)
    with translation.override(lang):
        response = render(request, "invoices/checkout/receipt.html", {"r": data, "lang": lang, "languages": settings.LANGUAGES})
    response["Content-Language"] = lang
    return _headers(response, frame_ancestors=None)
