"""Placeholders of store e-mail rules ({Invoice.Id}, {Invoice.OrderId}, {Invoice.Metadata.x}...), filled from an invoice event."""
from __future__ import annotations

import html
import json
import re

from django.utils.html import strip_tags

# BTCPay's store e-mail rule placeholders; {Invoice.Metadata.<path>} reads the invoice metadata.
_PLACEHOLDER = re.compile(r"\{(Invoice|Store)\.([A-Za-z0-9_.\-]+)\}")
# Status after each event, for payloads that do not carry it.
_STATUS_AFTER = {
    "InvoiceCreated": "New",
    "InvoiceProcessing": "Processing",
    "InvoiceSettled": "Settled",
    "InvoiceExpired": "Expired",
    "InvoiceInvalid": "Invalid",
}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def template_context(
    *, event_type: str, payload: dict, store_name: str, invoice: dict | None = None
) -> dict[str, str]:
    """The values of the fixed placeholders for one invoice event (missing ones are empty).

    ``invoice`` is the Greenfield ``InvoiceData`` when the invoice can be read: webhook bodies do
    not carry the price, currency or checkout link. The status is the one the event announced
    (the invoice may have moved on by the time the mail is rendered).
    """
    invoice = invoice or {}
    metadata = payload.get("metadata") or invoice.get("metadata") or {}
    return {
        "Invoice.Id": _text(payload.get("invoiceId")),
        "Invoice.StoreId": _text(payload.get("storeId")),
        "Invoice.OrderId": _text(metadata.get("orderId")),
        "Invoice.Price": _text(invoice.get("amount")),
        "Invoice.Currency": _text(invoice.get("currency")),
        "Invoice.Status": _text(_STATUS_AFTER.get(event_type) or invoice.get("status")),
        "Invoice.AdditionalStatus": _text(invoice.get("additionalStatus")),
        "Invoice.Link": _text(invoice.get("checkoutLink")),
        "Store.Id": _text(payload.get("storeId")),
        "Store.Name": store_name,
    }


def _metadata_lookup(metadata: dict, path: str) -> str | None:
    value = metadata
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return _text(value)


def template_render(
    template: str, *, context: dict[str, str], metadata: dict, escape: bool = False
) -> str:
    """Replace known placeholders; unknown ones are left as written, so a typo shows in the mail.

    With ``escape`` the values are HTML-escaped: metadata comes from whoever created the invoice
    (often the buyer), and must not inject markup or links into the merchant's HTML mail.
    """

    def value(match: re.Match) -> str:
        name = f"{match.group(1)}.{match.group(2)}"
        if name in context:
            return context[name]
        prefix = "Invoice.Metadata."
        if name.startswith(prefix):
            found = _metadata_lookup(metadata, name[len(prefix):])
            return "" if found is None else found
        return match.group(0)

    def replace(match: re.Match) -> str:
        text = value(match)
        return html.escape(text) if escape and text != match.group(0) else text

    return _PLACEHOLDER.sub(replace, template)


_HTML_TAG = re.compile(r"<(/?[A-Za-z][A-Za-z0-9]*)(\s[^<>]*)?/?>")


def template_is_html(template: str) -> bool:
    """Rule bodies written in an HTML editor (as in BTCPay) are sent as HTML with a text part."""
    return bool(_HTML_TAG.search(template))


def html_to_text(markup: str) -> str:
    """A readable plain-text part for an HTML body: line breaks for blocks, no tags, entities decoded."""
    text = re.sub(r"(?i)<br\s*/?>|</(p|div|h[1-6]|li|tr)>", "\n", markup)
    text = strip_tags(text)
    lines = [" ".join(line.split()) for line in html.unescape(text).splitlines()]
    return "\n".join(lines).strip() + "\n"
