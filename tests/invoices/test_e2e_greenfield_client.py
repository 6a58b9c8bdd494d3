"""End to end with a third-party Greenfield client from PyPI (btcpay-python-sdk 0.1.0), used unchanged.

The way a WooCommerce shop comes to FlashPay: the merchant authorizes a key through
/api-keys/authorize as the plugin asks for it, then the client creates an invoice with the
plugin's exact body, fetches it and its payment methods; the buyer pays over Lightning through
the devnode, and the client sees the invoice settled. Everything the client sends goes over real
HTTP to a live server.

The client's own bug, shown and worked around here (never in the server): its
``Invoices.update_invoice(invoice_id, metadata)`` sends the metadata as the whole body instead of
``{"metadata": ...}`` (its author marks it @BROKEN).
"""
import json
import re

import btcpay
import pytest
from django.test import Client

from flashpay.accounts.models import APIKey
from lightning.services import lightning_invoices_reconcile
from tests.factories import DEFAULT_PASSWORD, StoreFactory, UserFactory
from tests.flashpay.accounts.test_authorize_page import (
    authorize_url,
    posted_form,
    woocommerce_accepts,
)
from tests.invoices.conftest import deliver, vpub
from tests.invoices.factories import store_setup_payment_methods
from tests.invoices.greenfield_schema import validate

pytestmark = pytest.mark.django_db(transaction=True)


def woocommerce_invoice_body(order: int) -> dict:
    """AbstractGateway::createInvoice of the WooCommerce plugin, through the PHP client's
    Invoice::createInvoice: amount as a string, metadata (taxIncluded from get_cart_tax(), posData
    as a JSON string, orderUrl, orderId last) and InvoiceCheckoutOptions::toArray(), nulls
    included, with the plugin's payment method symbols (store ids with "-" turned into "_")."""
    edit_url = f"https://shop.example/wp-admin/post.php?post={order}&action=edit"
    pos_data = {"WooCommerce": {"Order ID": order, "Order Number": str(order), "Order URL": edit_url, "Plugin Version": "2.7.3"}}
    return {
        "amount": "37.50",
        "currency": "USD",
        "metadata": {
            "taxIncluded": "0",
            "posData": json.dumps(pos_data, separators=(",", ":")),
            "orderUrl": edit_url,
            "orderId": str(order),
        },
        "checkout": {
            "speedPolicy": None,
            "paymentMethods": ["BTC_CHAIN", "BTC_LN"],
            "expirationMinutes": None,
            "monitoringMinutes": None,
            "paymentTolerance": None,
            "redirectURL": f"https://shop.example/checkout/order-received/{order}/?key=wc_order_Xy12",
            "redirectAutomatically": None,
            "defaultLanguage": None,
        },
    }


def authorize_like_the_plugin(owner, store) -> str:
    """The merchant clicks "generate API key": signs in, picks the store, confirms; the key is
    POSTed to the shop's callback, which checks it as GreenfieldApiAuthorization does."""
    client = Client()
    assert client.post("/login/", {"username": owner.email, "password": DEFAULT_PASSWORD}).status_code == 302
    assert client.get(authorize_url()).status_code == 200
    done = client.post(authorize_url(), {"storeId": store.pk, "command": "authorize"})
    _action, fields = posted_form(done)
    permissions = [v for n, v in fields if n == "permissions[]"]
    assert woocommerce_accepts(permissions)
    assert {p.split(":")[1] for p in permissions} == {store.pk}
    return dict(fields)["apiKey"]


@pytest.fixture
def sdk(live_server):
    """The SDK reads its settings from module globals; its host URL ends with a slash."""
    saved = (btcpay.api_key, btcpay.host_url, btcpay.store_id)
    yield btcpay
    btcpay.api_key, btcpay.host_url, btcpay.store_id = saved


def test_a_woocommerce_order_paid_over_lightning_through_a_pypi_client(
    sdk, live_server, nodes, lnd_network, lnd_backend, lnd_external
):
    owner = UserFactory()
    store = StoreFactory(owner=owner, name="Blue Mountain Coffee")
    StoreFactory(owner=owner, name="Other shop")
    store_setup_payment_methods(store=store, xpub=vpub())

    secret = authorize_like_the_plugin(owner, store)
    sdk.api_key, sdk.host_url, sdk.store_id = secret, f"{live_server.url}/", store.pk

    # the plugin's body, as the client sends it (POST .../stores/{storeId}/invoices/, with the slash)
    created = sdk.Invoices.create_invoice(**woocommerce_invoice_body(4242))
    validate(created, "InvoiceData")
    assert (created["status"], created["amount"], created["currency"]) == ("New", "37.50", "USD")
    assert created["checkout"]["paymentMethods"] == ["BTC-CHAIN", "BTC-LN"]
    assert created["metadata"]["orderId"] == "4242"
    assert created["checkoutLink"].endswith(f"/i/{created['id']}")  # on FLASHPAY_BASE_URL

    fetched = sdk.Invoices.get_invoice(created["id"])
    assert fetched["id"] == created["id"] and fetched["checkout"]["redirectURL"].endswith("?key=wc_order_Xy12")
    listed = sdk.Invoices.get_invoices()
    assert [i["id"] for i in listed] == [created["id"]]
    validate(listed, "InvoiceDataList", optional=frozenset({"paymentMethods"}))

    methods = sdk.Invoices.get_invoice_payment_methods(created["id"])
    assert [m["paymentMethodId"] for m in methods] == ["BTC-CHAIN", "BTC-LN"]
    for method in methods:
        validate(method, "InvoicePaymentMethodDataModel")
    lightning = methods[1]
    # 37.50 USD at 50,000 USD/BTC
    assert (lightning["amount"], lightning["due"], lightning["rate"]) == ("0.00075000", "0.00075000", "50000")
    assert re.fullmatch(r"lnbcrt750u1[0-9a-z]+", lightning["destination"])

    # the buyer's wallet pays the BOLT11; the watcher and the worker record it
    assert lnd_external.pay(lightning["destination"], fee_limit_msat=1000, timeout=5).status == "success"
    lightning_invoices_reconcile(backend=lnd_backend, node_pubkey=lnd_network.nodes["flashpay"].pubkey)
    deliver()

    settled = sdk.Invoices.get_invoice(created["id"])
    assert (settled["status"], settled["additionalStatus"], settled["paidAmount"]) == ("Settled", "None", "37.50")
    paid = sdk.Invoices.get_invoice_payment_methods(created["id"])[1]
    assert (paid["paymentMethodPaid"], paid["due"], len(paid["payments"])) == ("0.00075000", "0.00000000", 1)
    assert paid["payments"][0]["status"] == "Settled"

    # the client's bug: update_invoice sends the metadata as the body, so there is no
    # "metadata" to set; as BTCPay does, the server answers the invoice unchanged. The test
    # sends what Greenfield asks for instead.
    unchanged = sdk.Invoices.update_invoice(created["id"], {"orderId": "4242", "note": "shipped"})
    assert unchanged["metadata"] == created["metadata"]
    client = sdk.Invoices()
    updated = client._put_request(client.uri + created["id"], {"metadata": {"orderId": "4242", "note": "shipped"}})
    assert updated["metadata"] == {"orderId": "4242", "note": "shipped"}

    # the client marks in lower case ("invalid"), which BTCPay reads as Invalid
    abandoned = sdk.Invoices.create_invoice(amount="1", currency="USD")
    marked = sdk.Invoices.mark_invoice_status(abandoned["id"], "invalid")
    assert (marked["status"], marked["additionalStatus"]) == ("Invalid", "Marked")

    # the merchant's only key is the one the page made, with the plugin's six permissions
    [key] = APIKey.objects.filter(user=owner)
    assert (key.label, len(key.permissions)) == ("WooCommerce", 6)
