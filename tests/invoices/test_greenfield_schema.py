"""The response validator is strict: a missing field, a null, a wrong type or a non-decimal amount fails."""
import copy

import jsonschema
import pytest

from tests.invoices.greenfield_schema import validate

INVOICE = {
    "id": "4Bo8PUrQTfFkp1gMLS6vg5", "storeId": "9CiNzKoANXxmk5ayZngSXrHTiVvvgCrwrpFQd4m2K776",
    "amount": "5.00", "paidAmount": "0.00", "currency": "USD", "type": "Standard",
    "checkoutLink": "https://pay.example/i/4Bo8PUrQTfFkp1gMLS6vg5",
    "createdTime": 1700000000, "expirationTime": 1700000900, "monitoringExpiration": 1700087300,
    "status": "New", "additionalStatus": "None", "availableStatusesForManualMarking": ["Settled", "Invalid"],
    "archived": False, "metadata": {"orderId": "1"},
    "checkout": {
        "speedPolicy": "MediumSpeed", "paymentMethods": ["BTC-CHAIN"], "defaultPaymentMethod": None,
        "lazyPaymentMethods": False, "expirationMinutes": 15, "monitoringMinutes": 1440, "paymentTolerance": 0,
        "redirectURL": None, "redirectAutomatically": False, "defaultLanguage": None,
    },
    "receipt": {"enabled": True, "showQR": True, "showPayments": True},
}


def test_a_complete_invoice_passes():
    validate(INVOICE, "InvoiceData")


@pytest.mark.parametrize(
    "change",
    [
        lambda i: i.pop("checkoutLink"),
        lambda i: i["checkout"].pop("speedPolicy"),
        lambda i: i.update(currency=None),
        lambda i: i.update(amount=5),
        lambda i: i.update(amount="five"),
        lambda i: i.update(createdTime=1700000000.5),
        lambda i: i.update(archived="false"),
        lambda i: i.update(status="Paid"),
        lambda i: i.update(surprise=1),
        lambda i: i["checkout"].update(speedPolicy="Warp"),
        lambda i: i["receipt"].update(showQR="yes"),
    ],
)
def test_anything_off_fails(change):
    invoice = copy.deepcopy(INVOICE)
    change(invoice)
    with pytest.raises(jsonschema.ValidationError):
        validate(invoice, "InvoiceData")


def test_nullable_fields_may_be_null_and_optional_ones_absent():
    invoice = copy.deepcopy(INVOICE)
    invoice["checkout"]["speedPolicy"] = None  # CheckoutOptions.speedPolicy is nullable
    validate(invoice, "InvoiceData")
    validate([invoice], "InvoiceDataList", optional=frozenset({"paymentMethods"}))
    with pytest.raises(jsonschema.ValidationError):
        validate([invoice], "InvoiceDataList")
