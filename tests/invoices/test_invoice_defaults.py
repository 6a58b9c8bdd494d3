"""Invoice fields come back with BTCPay 2.x's defaults and types; store settings reach new invoices."""
import bolt11
import pytest

from tests.invoices.api import invoice_create, invoice_payment_methods
from tests.invoices.greenfield_schema import validate

pytestmark = pytest.mark.django_db


def test_an_invoice_with_nothing_set_shows_btcpays_defaults(api_client, shop):
    store, headers = shop
    invoice = invoice_create(api_client, store, headers, {"amount": "1"})
    validate(invoice, "InvoiceData")
    assert invoice["currency"] == "USD" and invoice["type"] == "Standard" and invoice["metadata"] == {}
    assert invoice["checkout"] == {
        "speedPolicy": "MediumSpeed",
        "paymentMethods": ["BTC-CHAIN", "BTC-LN"],
        "defaultPaymentMethod": None,
        "lazyPaymentMethods": False,
        "expirationMinutes": 15,
        "monitoringMinutes": 1440,
        "paymentTolerance": 0,
        "redirectURL": None,
        "redirectAutomatically": False,
        "defaultLanguage": None,
    }
    assert invoice["receipt"] == {"enabled": True, "showQR": True, "showPayments": True}


def test_the_store_receipt_options_reach_its_invoices(api_client, shop):
    store, headers = shop
    store.receipt = {"enabled": None, "showQR": False, "showPayments": None}
    store.save(update_fields=["receipt"])
    plain = invoice_create(api_client, store, headers, {"amount": "1"})
    assert plain["receipt"] == {"enabled": True, "showQR": False, "showPayments": True}
    own = invoice_create(api_client, store, headers, {"amount": "1", "receipt": {"showQR": True, "showPayments": False}})
    assert own["receipt"] == {"enabled": True, "showQR": True, "showPayments": False}
    fetched = api_client.get(f"/api/v1/invoices/{own['id']}", **headers).json()
    assert fetched["receipt"] == own["receipt"]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("", "Paid to {name} (Order ID: 77)"),
        ("{StoreName}: order {OrderId}, invoice {InvoiceId}", "{name}: order 77, invoice {id}"),
    ],
)
def test_the_lightning_description_template_names_the_bolt11(api_client, shop, template, expected):
    store, headers = shop
    store.lightning_description_template = template
    store.save(update_fields=["lightning_description_template"])
    invoice = invoice_create(api_client, store, headers, {"amount": "1", "metadata": {"orderId": "77"}})
    destination = invoice_payment_methods(api_client, invoice["id"], headers)["BTC-LN"]["destination"]
    assert bolt11.decode(destination).description == expected.format(name=store.name, id=invoice["id"])


def test_the_store_rate_configuration_prices_its_invoices(api_client, shop):
    store, headers = shop
    response = api_client.put(f"/api/v1/stores/{store.pk}/rates/configuration", {"spread": 2, "preferredSource": "fixed"}, format="json", **headers)
    assert response.status_code == 200, response.content
    invoice = invoice_create(api_client, store, headers, {"amount": "49", "currency": "USD"})
    chain = invoice_payment_methods(api_client, invoice["id"], headers)["BTC-CHAIN"]
    # 1 BTC = 50,000 USD less the 2 % spread = 49,000 USD: 49 USD is 0.001 BTC
    assert (chain["rate"], chain["amount"]) == ("49000", "0.00100000")
