"""BTC-LNURL: an invoice's LNURL-pay request and callback (LUD-06/12/17), paid by the devnode's external node."""
import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from embit import bech32

from flashpay.ledger.models import Account
from invoices.models import Invoice, InvoiceLnurlInvoice, InvoicePayment, StorePaymentMethod
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
    # a settled invoice offers nothing more, and its callback mints nothing
    assert api_client.get(f"/{path}").json()["status"] == "ERROR"
    minted = len(lnd_network.nodes["flashpay"].invoices)
    refused = api_client.get(callback, {"amount": 30_000_000})
    assert refused.status_code == 400
    assert refused.json() == {"status": "ERROR", "reason": "This invoice is Settled and takes no more payments"}
    assert len(lnd_network.nodes["flashpay"].invoices) == minted


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


# --- abuse limits: every callback could mint an invoice on the node ---------------------------


@pytest.fixture
def clock(monkeypatch):
    """Time stands still (one rate-limit window) unless a test moves it: ``clock[0] += ...``."""
    now = [timezone.now()]
    monkeypatch.setattr(timezone, "now", lambda: now[0])
    return now


def _callback_path(api_client, store, headers, body: dict) -> tuple[str, str]:
    """(invoice id, path of its LNURL-pay callback) of a new invoice, as a wallet finds them."""
    invoice = api_client.post(f"/api/v1/stores/{store.pk}/invoices", body, format="json", **headers).json()
    methods = {m["paymentMethodId"]: m for m in api_client.get(f"/api/v1/invoices/{invoice['id']}/payment-methods", **headers).json()}
    path = _lnurl_url(methods["BTC-LNURL"]["destination"]).split("://", 1)[1].split("/", 1)[1]
    pay_request = api_client.get(f"/{path}").json()
    return invoice["id"], "/" + pay_request["callback"].split("://", 1)[1].split("/", 1)[1]


def _node_invoices(lnd_network) -> int:
    return len(lnd_network.nodes["flashpay"].invoices)


def test_callbacks_over_the_per_ip_limit_are_refused_and_retries_reuse_the_bolt11(
    api_client, lnurl_shop, lnd_network, settings, clock
):
    settings.LNURL_CALLBACK_RATE_PER_IP = 3
    settings.LNURL_CALLBACK_RATE_PER_INVOICE = 0
    store, headers = lnurl_shop
    _invoice_id, callback = _callback_path(api_client, store, headers, {"amount": "0.0003", "currency": "BTC"})
    before = _node_invoices(lnd_network)

    # a wallet retrying the same amount gets the same BOLT11: the node minted one invoice
    answers = [api_client.get(callback, {"amount": 30_000_000}, REMOTE_ADDR="192.0.2.1") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len({a.json()["pr"] for a in answers}) == 1
    assert _node_invoices(lnd_network) == before + 1
    assert InvoiceLnurlInvoice.objects.count() == 1

    # the 4th call from that address in the minute: LUD-06 error, 429, told when to come back
    refused = api_client.get(callback, {"amount": 30_000_000}, REMOTE_ADDR="192.0.2.1")
    assert refused.status_code == 429
    assert refused.json() == {"status": "ERROR", "reason": "Too many payment requests from this address, try again in a minute"}
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["Cache-Control"] == "no-store"

    # another address is not held back
    other = api_client.get(callback, {"amount": 30_000_000}, REMOTE_ADDR="192.0.2.2")
    assert other.status_code == 200 and other.json()["pr"] == answers[0].json()["pr"]
    # nor is the same address once the minute is over
    clock[0] += timedelta(seconds=60)
    assert api_client.get(callback, {"amount": 30_000_000}, REMOTE_ADDR="192.0.2.1").status_code == 200
    assert _node_invoices(lnd_network) == before + 1


def test_per_invoice_limit_and_one_bolt11_per_amount(api_client, lnurl_shop, lnd_network, settings, clock):
    settings.LNURL_CALLBACK_RATE_PER_IP = 0
    settings.LNURL_CALLBACK_RATE_PER_INVOICE = 3
    store, headers = lnurl_shop
    _top_up, callback = _callback_path(api_client, store, headers, {})  # a top-up: any amount
    before = _node_invoices(lnd_network)

    # from three addresses: two amounts -> two BOLT11s; the repeated amount gets its first one
    prs = [
        api_client.get(callback, {"amount": amount}, REMOTE_ADDR=f"192.0.2.{n}").json()["pr"]
        for n, amount in enumerate([1_000_000, 2_000_000, 1_000_000], start=1)
    ]
    assert prs[0] == prs[2] != prs[1]
    assert decode_bolt11(prs[1]).amount_msat == 2_000_000
    assert _node_invoices(lnd_network) == before + 2

    # the invoice's 4th callback in the minute is refused, whatever the address
    refused = api_client.get(callback, {"amount": 3_000_000}, REMOTE_ADDR="192.0.2.9")
    assert refused.status_code == 429
    assert refused.json() == {"status": "ERROR", "reason": "Too many payment requests for this invoice, try again in a minute"}
    assert int(refused["Retry-After"]) >= 1
    assert _node_invoices(lnd_network) == before + 2
    # another invoice is not held back
    _other, other_callback = _callback_path(api_client, store, headers, {})
    assert api_client.get(other_callback, {"amount": 3_000_000}, REMOTE_ADDR="192.0.2.9").status_code == 200


def test_a_bolt11_about_to_expire_is_not_handed_out_again(api_client, lnurl_shop, lnd_network, clock):
    store, headers = lnurl_shop
    body = {"amount": "0.0003", "currency": "BTC", "checkout": {"expirationMinutes": 1}}
    _invoice_id, callback = _callback_path(api_client, store, headers, body)
    first = api_client.get(callback, {"amount": 30_000_000}).json()["pr"]
    assert decode_bolt11(first).expiry == 60  # no longer than the invoice itself
    # 45 s later the invoice still takes payments, but that BOLT11 has only 15 s left
    clock[0] += timedelta(seconds=45)
    second = api_client.get(callback, {"amount": 30_000_000}).json()["pr"]
    assert second != first
    assert decode_bolt11(second).expiry == 15  # it expires with the invoice, not a minute from now
    assert InvoiceLnurlInvoice.objects.count() == 2


def test_callbacks_for_invoices_that_take_no_payment_leave_the_node_alone(api_client, lnurl_shop, lnd_network):
    store, headers = lnurl_shop
    expired, expired_callback = _callback_path(api_client, store, headers, {"amount": "0.0003", "currency": "BTC"})
    invalid, invalid_callback = _callback_path(api_client, store, headers, {"amount": "0.0003", "currency": "BTC"})
    before = _node_invoices(lnd_network)

    # past its expiration, before the worker got to mark it Expired
    Invoice.objects.filter(pk=expired).update(expires_at=timezone.now() - timedelta(seconds=1))
    refused = api_client.get(expired_callback, {"amount": 30_000_000})
    assert refused.status_code == 400
    assert refused.json() == {"status": "ERROR", "reason": "This invoice is Expired and takes no more payments"}
    assert api_client.get(expired_callback.removesuffix("/callback")).json()["status"] == "ERROR"

    # marked invalid by the merchant
    marked = api_client.post(f"/api/v1/stores/{store.pk}/invoices/{invalid}/status", {"status": "Invalid"}, format="json", **headers)
    assert marked.status_code == 200, marked.content
    refused = api_client.get(invalid_callback, {"amount": 30_000_000})
    assert refused.status_code == 400
    assert refused.json() == {"status": "ERROR", "reason": "This invoice is Invalid and takes no more payments"}

    # an invoice that does not exist
    unknown = api_client.get("/lnurlp/i/NoSuchInvoice/callback", {"amount": 30_000_000})
    assert unknown.status_code == 404 and unknown.json()["status"] == "ERROR"
    # and junk amounts
    junk = api_client.get(invalid_callback, {"amount": "lots"})
    assert junk.status_code == 400 and junk.json()["status"] == "ERROR"

    assert _node_invoices(lnd_network) == before
    assert not InvoiceLnurlInvoice.objects.exists()


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(api_client, lnurl_shop, settings, clock):
    settings.LNURL_CALLBACK_RATE_PER_IP = 1
    settings.LNURL_CALLBACK_RATE_PER_INVOICE = 0
    settings.TRUSTED_PROXIES = ["172.30.70.0/24"]
    store, headers = lnurl_shop
    _invoice_id, callback = _callback_path(api_client, store, headers, {"amount": "0.0003", "currency": "BTC"})

    def via_proxy(forwarded_for: str):
        return api_client.get(
            callback, {"amount": 30_000_000}, REMOTE_ADDR="172.30.70.5", HTTP_X_FORWARDED_FOR=forwarded_for
        )

    assert via_proxy("198.51.100.7").status_code == 200
    assert via_proxy("198.51.100.8").status_code == 200  # another client behind the same proxy
    assert via_proxy("198.51.100.7").status_code == 429
    # a client cannot escape its limit by writing its own X-Forwarded-For: the proxy appends the real one
    assert via_proxy("203.0.113.99, 198.51.100.7").status_code == 429
    # and a peer that is not a trusted proxy is counted by its own address, whatever it claims
    assert api_client.get(
        callback, {"amount": 30_000_000}, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.1"
    ).status_code == 429
