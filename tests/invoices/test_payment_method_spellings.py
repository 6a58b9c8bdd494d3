"""Payment method ids in every BTCPay spelling, wherever a client sends one; answers use the 2.x ids."""
import json

import pytest

from flashpay.accounts.models import Store
from invoices.models import Invoice
from tests.invoices.api import invoice_create
from tests.invoices.conftest import vpub
from tests.invoices.greenfield_schema import validate

pytestmark = pytest.mark.django_db


def woocommerce_body(payment_methods: list[str]) -> dict:
    """What the WooCommerce plugin's createInvoice sends (the PHP client's createInvoice and
    InvoiceCheckoutOptions::toArray, which includes the options left null)."""
    return {
        "amount": "25.00",
        "currency": "USD",
        "metadata": {
            "taxIncluded": "0",
            "posData": json.dumps({"WooCommerce": {"Order ID": 123, "Order Number": "123"}}),
            "orderUrl": "https://shop.example/wp-admin/post.php?post=123&action=edit",
            "orderId": "123",
        },
        "checkout": {
            "speedPolicy": None,
            "paymentMethods": payment_methods,
            "expirationMinutes": None,
            "monitoringMinutes": None,
            "paymentTolerance": None,
            "redirectURL": "https://shop.example/checkout/order-received/123/?key=wc_order_abc",
            "redirectAutomatically": None,
            "defaultLanguage": None,
        },
    }


def test_the_woocommerce_body_creates_an_invoice(api_client, shop):
    store, headers = shop
    invoice = invoice_create(api_client, store, headers, woocommerce_body(["BTC_CHAIN", "BTC_LN"]))
    validate(invoice, "InvoiceData")
    assert invoice["checkout"]["paymentMethods"] == ["BTC-CHAIN", "BTC-LN"]
    assert invoice["metadata"]["orderId"] == "123"
    methods = api_client.get(f"/api/v1/stores/{store.pk}/invoices/{invoice['id']}/payment-methods", **headers).json()
    assert [m["paymentMethodId"] for m in methods] == ["BTC-CHAIN", "BTC-LN"]


@pytest.mark.parametrize(
    ("requested", "default", "methods", "shown_default"),
    [
        (["BTC", "BTC-LightningNetwork"], "BTC_LightningLike", ["BTC-CHAIN", "BTC-LN"], "BTC-LN"),
        (["BTC_OnChain"], "btc", ["BTC-CHAIN"], "BTC-CHAIN"),
        (["btc_ln", "BTC-LN"], None, ["BTC-LN"], None),
    ],
)
def test_legacy_spellings_in_the_body_are_shown_canonical(api_client, shop, requested, default, methods, shown_default):
    store, headers = shop
    body = {"amount": "1", "currency": "USD", "checkout": {"paymentMethods": requested, "defaultPaymentMethod": default}}
    invoice = invoice_create(api_client, store, headers, body)
    assert invoice["checkout"]["paymentMethods"] == methods
    assert invoice["checkout"]["defaultPaymentMethod"] == shown_default


def test_an_unknown_id_is_400_at_its_index_and_writes_nothing(api_client, shop):
    store, headers = shop
    response = api_client.post(
        f"/api/v1/stores/{store.pk}/invoices", woocommerce_body(["BTC_CHAIN", "XMR_CHAIN"]), format="json", **headers
    )
    assert response.status_code == 400
    assert response.json()[0]["path"] == "checkout.paymentMethods[1]"
    assert "XMR_CHAIN" in response.json()[0]["message"]
    assert not Invoice.objects.exists()


@pytest.mark.django_db(transaction=True)  # activating BTC-LN may call the node: no transaction around it
def test_activate_takes_any_spelling(api_client, shop):
    store, headers = shop
    invoice = invoice_create(api_client, store, headers, {"amount": "1", "currency": "USD"})
    for spelling in ("BTC_LN", "BTC-LightningNetwork", "BTC_CHAIN", "BTC"):
        response = api_client.post(f"/api/v1/invoices/{invoice['id']}/payment-methods/{spelling}/activate", **headers)
        assert response.status_code == 200, (spelling, response.content)
    assert api_client.post(f"/api/v1/invoices/{invoice['id']}/payment-methods/BTC_XYZ/activate", **headers).status_code == 400


@pytest.mark.parametrize("spelling", ["BTC-CHAIN", "BTC_CHAIN", "BTC", "btc-onchain", "BTC_BitcoinLike"])
def test_store_payment_method_paths_take_any_spelling(store_calls, spelling):
    store, call = store_calls
    response = call("put", f"/payment-methods/{spelling}", {"enabled": True, "config": vpub()})
    assert response.status_code == 200, response.content
    assert response.json()["paymentMethodId"] == "BTC-CHAIN"
    assert call("get", f"/payment-methods/{spelling}").json() == {"enabled": True, "paymentMethodId": "BTC-CHAIN"}
    assert call("get", f"/payment-methods/{spelling}/wallet/preview?count=1").status_code == 200
    assert call("delete", f"/payment-methods/{spelling}").status_code == 200
    assert call("get", "/payment-methods").json() == []


def test_store_default_payment_method_and_criteria_are_stored_canonical(store_calls):
    store, call = store_calls
    body = {
        "name": "Shop",
        "defaultPaymentMethod": "BTC_LightningLike",
        "paymentMethodCriteria": [{"paymentMethodId": "BTC_OnChain", "currencyCode": "usd", "amount": "5.00", "above": True}],
    }
    response = call("put", "", body)
    assert response.status_code == 200, response.content
    assert response.json()["defaultPaymentMethod"] == "BTC-LN"
    assert response.json()["paymentMethodCriteria"] == [
        {"paymentMethodId": "BTC-CHAIN", "currencyCode": "USD", "amount": "5.00", "above": True}
    ]
    assert call("get", "").json()["defaultPaymentMethod"] == "BTC-LN"


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("defaultPaymentMethod", "XMR", "defaultPaymentMethod"),
        ("defaultPaymentMethod", "BTC-LN-X", "defaultPaymentMethod"),
        ("paymentMethodCriteria", [{"paymentMethodId": "LTC", "currencyCode": "USD", "amount": "1"}], "paymentMethodCriteria[0].paymentMethodId"),
        ("paymentMethodCriteria", [{"paymentMethodId": "BTC", "currencyCode": "USD", "amount": "-1"}], "paymentMethodCriteria[0].amount"),
        ("paymentMethodCriteria", [{"paymentMethodId": "BTC", "amount": "1"}], "paymentMethodCriteria[0].currencyCode"),
        ("paymentMethodCriteria", {"BTC": 1}, "paymentMethodCriteria"),
    ],
)
def test_bad_store_payment_method_ids_are_400_and_change_nothing(store_calls, field, value, path):
    store, call = store_calls
    response = call("put", "", {"name": "Renamed", field: value})
    assert response.status_code == 400, response.content
    assert response.json()[0]["path"] == path
    assert Store.objects.get(pk=store.pk).name == store.name
