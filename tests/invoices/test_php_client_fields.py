"""No field that the official PHP client (btcpayserver-greenfield-php) reads as a string is null.

Its result classes declare ``strict_types`` and typed getters, so a null where a getter returns
``string`` is a TypeError in the merchant's shop. The keys below are the ones its getters read
(src/Result/Store.php, Invoice.php, InvoicePaymentMethod.php, InvoicePayment.php), limited to
fields that exist in Greenfield 2.x: Store.php also reads ``customLogo``, ``customCSS`` and
``requiresRefundEmail`` and Invoice.php ``monitoringTime``, which BTCPay 2.x does not send either.
"""
import pytest

from lightning.services import lightning_invoices_reconcile
from tests.invoices.api import invoice_create
from tests.invoices.conftest import deliver
from tests.invoices.greenfield_schema import validate

pytestmark = pytest.mark.django_db

STORE_STRINGS = [
    "id", "name", "website", "defaultCurrency", "speedPolicy", "lightningDescriptionTemplate",
    "defaultLang", "htmlTitle", "networkFeeMode", "defaultPaymentMethod",
]
STORE_INTEGERS = ["invoiceExpiration", "monitoringExpiration", "paymentTolerance", "recommendedFeeBlockTarget"]
STORE_BOOLEANS = [
    "anyoneCanCreateInvoice", "lightningAmountInSatoshi", "lightningPrivateRouteHints", "onChainWithLnInvoiceFallback",
    "redirectAutomatically", "showRecommendedFee", "payJoinEnabled", "lazyPaymentMethods",
]
INVOICE_STRINGS = ["id", "amount", "currency", "type", "checkoutLink", "status"]
INVOICE_INTEGERS = ["createdTime", "expirationTime"]
METHOD_STRINGS = ["destination", "rate", "paymentMethodPaid", "totalPaid", "due", "amount", "paymentMethodFee", "paymentMethodId"]
PAYMENT_STRINGS = ["id", "value", "fee", "destination", "status"]


def _typed(data: dict, keys: list[str], kind: type) -> dict:
    """The keys whose value is not exactly of ``kind`` (so neither null nor a bool for an int)."""
    return {key: data.get(key) for key in keys if type(data.get(key)) is not kind}


def test_a_store_with_nothing_set_reads_in_the_php_client(api_client, shop):
    store, headers = shop
    data = api_client.get(f"/api/v1/stores/{store.pk}", **headers).json()
    validate(data, "StoreData")
    assert _typed(data, STORE_STRINGS, str) == {}
    assert _typed(data, STORE_INTEGERS, int) == {}
    assert _typed(data, STORE_BOOLEANS, bool) == {}


def test_an_invoice_its_methods_and_payments_read_in_the_php_client(
    api_client, shop, lnd_network, lnd_backend, lnd_external
):
    store, headers = shop
    invoice = invoice_create(api_client, store, headers, {"amount": "0.0001", "currency": "BTC"})
    validate(invoice, "InvoiceData")
    assert _typed(invoice, INVOICE_STRINGS, str) == {}
    assert _typed(invoice, INVOICE_INTEGERS, int) == {}
    assert isinstance(invoice["availableStatusesForManualMarking"], list)

    methods = api_client.get(f"/api/v1/invoices/{invoice['id']}/payment-methods", **headers).json()
    bolt11 = next(m["destination"] for m in methods if m["paymentMethodId"] == "BTC-LN")
    assert lnd_external.pay(bolt11, fee_limit_msat=1000, timeout=5).status == "success"
    lightning_invoices_reconcile(backend=lnd_backend, node_pubkey=lnd_network.nodes["flashpay"].pubkey)
    deliver()

    methods = api_client.get(f"/api/v1/invoices/{invoice['id']}/payment-methods", **headers).json()
    payments = [p for m in methods for p in m["payments"]]
    assert len(payments) == 1
    for method in methods:
        validate(method, "InvoicePaymentMethodDataModel")
        assert _typed(method, METHOD_STRINGS, str) == {}
    assert _typed(payments[0], PAYMENT_STRINGS, str) == {}
    assert isinstance(payments[0]["receivedDate"], int)
    settled = api_client.get(f"/api/v1/invoices/{invoice['id']}", **headers).json()
    assert settled["status"] == "Settled" and _typed(settled, INVOICE_STRINGS, str) == {}
