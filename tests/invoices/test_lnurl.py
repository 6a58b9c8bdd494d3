"""BTC-LNURL: an invoice's LNURL-pay request and callback (LUD-06/12/17), paid by the devnode's external node."""
import hashlib

import pytest
from embit import bech32

from flashpay.ledger.models import Account
from invoices.models import InvoicePayment, StorePaymentMethod
from lightning.bolt11_helpers import decode_bolt11
from lightning.services import lightning_invoices_reconcile
from tests.factories import token_header
from tests.invoices.conftest import deliver, vpub
from tests.invoices.factories import store_setup_payment_methods

pytestmark = pytest.mark.django_db


@pytest.fixture
def lnurl_shop(api_client, shop):
    store, headers = shop
    response = api_client.put(
        f"/api/v1/stores/{store.pk}/payment-methods/BTC-LNURL",
        {"enabled": True, "config": {"useBech32Scheme": True, "lud12Enabled": True}},
        format="json",
        **headers,
    )
    assert response.status_code == 200, response.content
    assert response.json()["config"] == {"useBech32Scheme": True, "lud12Enabled": True, "lud21Enabled": False}
    return store, headers


def _lnurl_url(lnurl: str) -> str:
    """LUD-01 decode; LNURLs are longer than bech32's 90 characters, so no library length check."""
    hrp, _sep, rest = lnurl.lower().rpartition("1")
    data = [bech32.CHARSET.index(c) for c in rest]
    assert hrp == "lnurl"
    assert bech32.bech32_verify_checksum(hrp, data) == bech32.Encoding.BECH32
    return bytes(bech32.convertbits(data[:-6], 5, 8, False)).decode()


def test_pay_an_invoice_through_lnurl(api_client, lnurl_shop, lnd_network, lnd_backend, lnd_external):
    store, headers = lnurl_shop
    invoice = api_client.post(f"/api/v1/stores/{store.pk}/invoices", {"amount": "0.0003", "currency": "BTC"}, format="json", **headers).json()
    methods = {m["paymentMethodId"]: m for m in api_client.get(f"/api/v1/invoices/{invoice['id']}/payment-methods", **headers).json()}
    lnurl = methods["BTC-LNURL"]["destination"]
    assert lnurl.startswith("LNURL1")
    url = _lnurl_url(lnurl)
    assert url.endswith(f"/lnurlp/i/{invoice['id']}")

    # LUD-06 step 1: the pay request (anonymous, as a wallet asks)
    path = url.split("://", 1)[1].split("/", 1)[1]
    pay_request = api_client.get(f"/{path}").json()
    assert pay_request["tag"] == "payRequest"
    assert (pay_request["minSendable"], pay_request["maxSendable"]) == (30_000_000, 30_000_000)
    assert pay_request["commentAllowed"] == 200

    # a wrong amount is refused in LUD-06's error shape
    callback = "/" + pay_request["callback"].split("://", 1)[1].split("/", 1)[1]
    refused = api_client.get(callback, {"amount": 1000})
    assert refused.status_code == 400 and refused.json()["status"] == "ERROR"

    # step 2: the callback mints a BOLT11 committing to the metadata hash
    answer = api_client.get(callback, {"amount": 30_000_000, "comment": "thanks!"}).json()
    decoded = decode_bolt11(answer["pr"])
    assert decoded.amount_msat == 30_000_000
    assert decoded.description_hash == hashlib.sha256(pay_request["metadata"].encode()).hexdigest()

    # the wallet pays; the watcher records it by payment hash
    assert lnd_external.pay(answer["pr"], fee_limit_msat=1000, timeout=5).status == "success"
    lightning_invoices_reconcile(backend=lnd_backend, node_pubkey=lnd_network.nodes["flashpay"].pubkey)
    deliver()

    data = api_client.get(f"/api/v1/invoices/{invoice['id']}", **headers).json()
    assert data["status"] == "Settled"
    payment = InvoicePayment.objects.get()
    assert (payment.payment_method_id, payment.amount_msat) == ("BTC-LNURL", 30_000_000)
    lnurl_method = next(m for m in api_client.get(f"/api/v1/invoices/{invoice['id']}/payment-methods", **headers).json() if m["paymentMethodId"] == "BTC-LNURL")
    assert lnurl_method["additionalData"]["providedComment"] == "thanks!"
    assert Account.objects.get(kind="merchant", reference=store.pk).posted_msat == 30_000_000
    # a settled invoice offers nothing more
    assert api_client.get(f"/{path}").json()["status"] == "ERROR"


def test_lud17_scheme_and_lnurl_needs_lightning(api_client, merchant, nodes, settings):
    _owner, store, secret = merchant
    headers = token_header(secret)
    base = f"/api/v1/stores/{store.pk}/payment-methods/BTC-LNURL"
    refused = api_client.put(base, {"enabled": True}, format="json", **headers)
    assert refused.status_code == 400
    assert not StorePaymentMethod.objects.exists()

    store_setup_payment_methods(store=store, xpub=vpub())
    assert api_client.put(base, {"enabled": True}, format="json", **headers).status_code == 200
    invoice = api_client.post(f"/api/v1/stores/{store.pk}/invoices", {"amount": "1"}, format="json", **headers).json()
    methods = {m["paymentMethodId"]: m for m in api_client.get(f"/api/v1/invoices/{invoice['id']}/payment-methods", **headers).json()}
    host = settings.FLASHPAY_BASE_URL.split("://", 1)[1].rstrip("/")
    assert methods["BTC-LNURL"]["destination"] == f"lnurlp://{host}/lnurlp/i/{invoice['id']}"  # LUD-17
    assert set(methods) == {"BTC-CHAIN", "BTC-LN", "BTC-LNURL"}
