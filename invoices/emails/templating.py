"""Placeholders of store e-mail rules ({Invoice.Id}, {Invoice.OrderId}, {Invoice.Metadata.x}...), filled from an invoice event."""
from __future__ import annotations

import json
import re

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


def template_render(template: str, *, context: dict[str, str], metadata: dict) -> str:
    """Replace known placeholders; unknown ones are left as written, so a typo shows in the mail."""

    def replace(match: re.Match) -> str:
        name = f"{match.group(1)}.{match.group(2)}"
        if name in context:
            return context[name]
        prefix = "Invoice.Metadata."
        if name.startswith(prefix):
            found = _metadata_lookup(metadata, name[len(prefix):])
            if found is not None:
                return found
            return ""
        return match.group(0)

    return _PLACEHOLDER.sub(replace, template)
