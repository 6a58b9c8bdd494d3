"""Greenfield invoice API: shapes (validated against the Greenfield schemas), filters, updates, errors and permissions."""
from datetime import timedelta
from decimal import Decimal

import bolt11
import pytest
from django.utils import timezone

from flashpay.accounts.models import StoreRole
from flashpay.events.models import Event
from invoices import tasks
from invoices.models import Invoice, InvoiceEvent, InvoicePaymentPrompt, WatchedAddress
from invoices.onchain.services import onchain_sync_once
from invoices.services.payments import invoice_payment_onchain_record
from lightning.backends import PaymentStatus
from lightning.models import LightningInvoice
from tests.factories import StoreFactory, UserFactory, add_member, create_api_key, token_header
from tests.invoices.conftest import deliver
from tests.invoices.greenfield_schema import validate

pytestmark = pytest.mark.django_db


def _url(store, suffix=""):
    return f"/api/v1/stores/{store.pk}/invoices{suffix}"


def _create(api_client, store, headers, body=None, expect=200):
    response = api_client.post(_url(store), body if body is not None else {"amount": "10", "currency": "USD"}, format="json", **headers)
    assert response.status_code == expect, response.content
    return response.json()


def _counts():
    return (
        Invoice.objects.count(), InvoicePaymentPrompt.objects.count(), InvoiceEvent.objects.count(),
        Event.objects.filter(aggregate_type="invoice").count(), WatchedAddress.objects.count(),
        LightningInvoice.objects.count(),
    )


def test_create_get_and_payment_methods_match_the_greenfield_schemas(api_client, shop):
    store, headers = shop
    created = _create(api_client, store, headers, {
        "amount": "12.5", "currency": "usd",
        "metadata": {"orderId": "42", "buyerEmail": "b@example.com", "posData": {"cart": [1, 2]}},
        "checkout": {"redirectURL": "https://shop.example/thanks/{OrderId}?i={InvoiceId}", "expirationMinutes": 30,
                     "defaultLanguage": "fr", "defaultPaymentMethod": "BTC-LN"},
        "receipt": {"enabled": False},
        "additionalSearchTerms": ["blue mug"],
    })
    validate(created, "InvoiceData")
    assert created["currency"] == "USD"
    assert created["amount"] == "12.50"
    assert created["expirationTime"] - created["createdTime"] == 30 * 60
    assert created["checkout"]["defaultPaymentMethod"] == "BTC-LN"
    assert created["receipt"]["enabled"] is False
    assert created["checkoutLink"].endswith(f"/i/{created['id']}")
    assert created["availableStatusesForManualMarking"] == ["Settled", "Invalid"]

    fetched = api_client.get(_url(store, f"/{created['id']}?includePaymentMethods=true"), **headers)
    assert fetched.status_code == 200
    validate([fetched.json()], "InvoiceDataList")

    methods = api_client.get(f"/api/v1/invoices/{created['id']}/payment-methods", **headers).json()
    for method in methods:
        validate(method, "InvoicePaymentMethodDataModel")
    assert [m["paymentMethodId"] for m in methods] == ["BTC-CHAIN", "BTC-LN"]
    assert methods[0]["rate"] == "50000"
    assert methods[0]["amount"] == "0.00025000"


def test_list_filters(api_client, shop):
    store, headers = shop
    a = _create(api_client, store, headers, {"amount": "1", "metadata": {"orderId": "A"}, "additionalSearchTerms": ["red"]})
    b = _create(api_client, store, headers, {"amount": "2", "metadata": {"orderId": "B", "buyerEmail": "Zed@Example.com"}})
    api_client.post(f"/api/v1/invoices/{b['id']}/status", {"status": "Invalid"}, format="json", **headers)

    def ids(query=""):
        response = api_client.get(_url(store, query), **headers)
        assert response.status_code == 200, response.content
        validate(response.json(), "InvoiceDataList", optional=frozenset({"paymentMethods"}))
        return [i["id"] for i in response.json()]

    assert ids() == [b["id"], a["id"]]  # newest first
    assert ids("?orderId=A") == [a["id"]]
    assert ids("?orderId=A&orderId=B") == [b["id"], a["id"]]
    assert ids("?status=Invalid") == [b["id"]]
    assert ids("?textSearch=zed@example") == [b["id"]]
    assert ids("?textSearch=red") == [a["id"]]
    assert ids("?skip=1&take=1") == [a["id"]]
    assert ids(f"?startDate={b['createdTime'] + 10}") == []
    assert ids(f"?endDate={a['createdTime'] + 10}") == [b["id"], a["id"]]
    assert api_client.get(_url(store, "?status=Paid"), **headers).status_code == 400
    assert api_client.get(_url(store, "?take=-1"), **headers).status_code == 400


def test_update_metadata_archive_unarchive(api_client, shop):
    store, headers = shop
    invoice = _create(api_client, store, headers, {"amount": "1", "metadata": {"orderId": "old"}})
    url = f"/api/v1/invoices/{invoice['id']}"

    updated = api_client.put(url, {"metadata": {"orderId": "new", "note": "x"}}, format="json", **headers)
    assert updated.status_code == 200
    assert updated.json()["metadata"] == {"orderId": "new", "note": "x"}
    assert [i["id"] for i in api_client.get(_url(store, "?orderId=new"), **headers).json()] == [invoice["id"]]
    # as in BTCPay: a body without metadata changes nothing and answers the invoice
    unchanged = api_client.put(url, {"orderId": "other"}, format="json", **headers)
    assert unchanged.status_code == 200
    assert unchanged.json()["metadata"] == {"orderId": "new", "note": "x"}

    assert api_client.delete(url, **headers).status_code == 200
    assert api_client.get(_url(store), **headers).json() == []
    assert api_client.get(url, **headers).json()["archived"] is True

    restored = api_client.post(f"{url}/unarchive", **headers)
    assert restored.status_code == 200 and restored.json()["archived"] is False
    assert len(api_client.get(_url(store), **headers).json()) == 1


def test_mark_status_through_the_api(api_client, shop):
    store, headers = shop
    invoice = _create(api_client, store, headers)
    # BTCPay reads enums in any case (btcpay-python-sdk sends "settled")
    response = api_client.post(_url(store, f"/{invoice['id']}/status"), {"status": "settled"}, format="json", **headers)
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["additionalStatus"]) == ("Settled", "Marked")
    assert response.json()["availableStatusesForManualMarking"] == ["Invalid"]
    again = api_client.post(_url(store, f"/{invoice['id']}/status"), {"status": "Settled"}, format="json", **headers)
    assert again.status_code == 422
    bad = api_client.post(_url(store, f"/{invoice['id']}/status"), {"status": "Expired"}, format="json", **headers)
    assert bad.status_code == 400 and bad.json()[0]["path"] == "status"
    assert Invoice.objects.get(pk=invoice["id"]).status == "Settled"


def test_enums_are_read_in_any_case_and_answered_in_btcpays(api_client, shop):
    store, headers = shop
    invoice = _create(api_client, store, headers, {"amount": "1", "checkout": {"speedPolicy": "highspeed"}})
    assert invoice["checkout"]["speedPolicy"] == "HighSpeed"
    listed = api_client.get(_url(store, "?status=new&status=SETTLED"), **headers)
    assert [i["id"] for i in listed.json()] == [invoice["id"]]
    store_url = f"/api/v1/stores/{store.pk}"
    updated = api_client.put(store_url, {"speedPolicy": "LOWSPEED", "networkFeeMode": "never"}, format="json", **headers)
    assert updated.status_code == 200, updated.json()
    assert (updated.json()["speedPolicy"], updated.json()["networkFeeMode"]) == ("LowSpeed", "Never")


def test_a_default_method_btcpay_cannot_read_is_left_out_and_one_not_offered_is_kept(api_client, shop):
    store, headers = shop
    unreadable = _create(api_client, store, headers, {"amount": "1", "checkout": {"defaultPaymentMethod": "DOGE"}})
    assert unreadable["checkout"]["defaultPaymentMethod"] is None
    body = {"amount": "1", "checkout": {"paymentMethods": ["BTC-CHAIN"], "defaultPaymentMethod": "BTC_LN"}}
    not_offered = _create(api_client, store, headers, body)
    assert not_offered["checkout"]["defaultPaymentMethod"] == "BTC-LN"
    assert api_client.get(f"/i/{not_offered['id']}").status_code == 200  # opens on what it offers


@pytest.mark.parametrize(
    ("body", "status", "path_or_code"),
    [
        ({"amount": "-1", "currency": "USD"}, 400, "amount"),
        ({"amount": "abc", "currency": "USD"}, 400, "amount"),
        ({"amount": "0", "currency": "USD"}, 400, "amount"),
        ({"amount": "10", "currency": "US$"}, 400, "currency"),
        ({"amount": "10", "currency": "XYZ"}, 422, "rate-unavailable"),
        ({"amount": "10", "metadata": "not an object"}, 400, "metadata"),
        ({"amount": "10", "metadata": [1, 2]}, 400, "metadata"),
        ({"amount": "10", "checkout": {"paymentMethods": ["DOGE"]}}, 400, "checkout.paymentMethods[0]"),
        ({"amount": "10", "checkout": {"speedPolicy": "Warp"}}, 400, "checkout.speedPolicy"),
        ({"amount": "10", "checkout": {"paymentTolerance": 101}}, 400, "checkout.paymentTolerance"),
        ({"amount": "10", "checkout": {"expirationMinutes": 0}}, 400, "checkout.expirationMinutes"),
        ({"amount": "10", "checkout": {"redirectURL": "not a url"}}, 400, "checkout.redirectURL"),
    ],
)
def test_bad_requests_are_clear_4xx_and_write_nothing(api_client, shop, body, status, path_or_code):
    store, headers = shop
    before = _counts()
    response = api_client.post(_url(store), body, format="json", **headers)
    assert response.status_code == status, response.content
    if status == 400:
        assert path_or_code in [e["path"] for e in response.json()]
    else:
        assert response.json()["code"] == path_or_code
        assert "BTC_XYZ" in response.json()["message"]
    assert _counts() == before


def test_malformed_json_is_400(api_client, shop):
    store, headers = shop
    response = api_client.post(_url(store), data="{not json", content_type="application/json", **headers)
    assert response.status_code == 400
    assert Invoice.objects.count() == 0


def test_store_without_payment_methods_is_refused(api_client, merchant, nodes):
    _owner, store, secret = merchant
    response = api_client.post(_url(store), {"amount": "10"}, format="json", **token_header(secret))
    assert response.status_code == 400
    assert response.json()[0]["path"] == "checkout.paymentMethods"


def test_disabled_method_cannot_be_requested(api_client, shop):
    store, headers = shop
    api_client.put(f"/api/v1/stores/{store.pk}/payment-methods/BTC-LN", {"enabled": False}, format="json", **headers)
    response = api_client.post(_url(store), {"amount": "10", "checkout": {"paymentMethods": ["BTC-LN"]}}, format="json", **headers)
    assert response.status_code == 400
    only_chain = _create(api_client, store, headers)
    methods = api_client.get(f"/api/v1/invoices/{only_chain['id']}/payment-methods", **headers).json()
    assert [m["paymentMethodId"] for m in methods] == ["BTC-CHAIN"]


def test_idempotent_create(api_client, shop):
    store, headers = shop
    first = api_client.post(_url(store), {"amount": "3"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1", **headers)
    second = api_client.post(_url(store), {"amount": "3"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1", **headers)
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert Invoice.objects.count() == 1


def test_another_stores_invoice_is_refused(api_client, shop):
    store, headers = shop
    invoice = _create(api_client, store, headers)
    stranger = UserFactory()
    other = StoreFactory(owner=stranger)
    _key, secret = create_api_key(user=stranger)
    theirs = token_header(secret)

    # through their own store's path: not found there
    assert api_client.get(f"/api/v1/stores/{other.pk}/invoices/{invoice['id']}", **theirs).status_code == 404
    # through the flat path: no permission on the invoice's store
    assert api_client.get(f"/api/v1/invoices/{invoice['id']}", **theirs).status_code == 403
    assert api_client.put(f"/api/v1/invoices/{invoice['id']}", {"metadata": {}}, format="json", **theirs).status_code == 403
    assert api_client.post(f"/api/v1/invoices/{invoice['id']}/status", {"status": "Invalid"}, format="json", **theirs).status_code == 403
    assert api_client.delete(f"/api/v1/invoices/{invoice['id']}", **theirs).status_code == 403
    # through our store's path with their key
    assert api_client.get(_url(store, f"/{invoice['id']}"), **theirs).status_code == 403
    assert Invoice.objects.get().status == "New" and not Invoice.objects.get().archived
    # unknown invoice
    assert api_client.get("/api/v1/invoices/nope", **headers).status_code == 404


PERMISSION_CASES = {
    # permission -> (create, list, get, update, mark, archive)
    "btcpay.store.canviewinvoices": (403, 200, 200, 403, 403, 403),
    "btcpay.store.cancreateinvoice": (200, 403, 403, 403, 403, 403),
    "btcpay.store.canmodifyinvoices": (200, 200, 200, 200, 200, 200),
    "btcpay.store.canviewstoresettings": (403, 200, 200, 403, 403, 403),
    "btcpay.store.canmodifystoresettings": (200, 200, 200, 200, 200, 200),
    "btcpay.store.canviewpaymentrequests": (403, 403, 403, 403, 403, 403),
}


@pytest.mark.parametrize("permission", list(PERMISSION_CASES))
def test_permission_matrix(api_client, shop, permission):
    store, owner_headers = shop
    invoice = _create(api_client, store, owner_headers)
    owner = store.memberships.get().user
    _key, secret = create_api_key(user=owner, permissions=[f"{permission}:{store.pk}"])
    headers = token_header(secret)
    flat = f"/api/v1/invoices/{invoice['id']}"
    got = (
        api_client.post(_url(store), {"amount": "1"}, format="json", **headers).status_code,
        api_client.get(_url(store), **headers).status_code,
        api_client.get(flat, **headers).status_code,
        api_client.put(flat, {"metadata": {"a": 1}}, format="json", **headers).status_code,
        api_client.post(f"{flat}/status", {"status": "Invalid"}, format="json", **headers).status_code,
        api_client.delete(flat, **headers).status_code,
    )
    assert got == PERMISSION_CASES[permission]


@pytest.mark.parametrize("role", [StoreRole.MANAGER, StoreRole.EMPLOYEE, StoreRole.GUEST])
def test_every_store_role_may_work_with_invoices(api_client, shop, role):
    store, _ = shop
    member = UserFactory()
    add_member(store=store, user=member, role=role)
    _key, secret = create_api_key(user=member)
    headers = token_header(secret)
    invoice = _create(api_client, store, headers)
    assert api_client.get(f"/api/v1/invoices/{invoice['id']}", **headers).status_code == 200


def test_anonymous_is_401(api_client, shop):
    store, _ = shop
    assert api_client.get(_url(store)).status_code == 401
    assert api_client.post(_url(store), {"amount": "1"}, format="json").status_code == 401
    assert Invoice.objects.count() == 0


def test_lightning_node_down_is_a_clear_503_and_no_invoice(api_client, shop, lnd_network):
    store, headers = shop
    lnd_network.stop()
    before = Invoice.objects.count(), Event.objects.filter(aggregate_type="invoice").count()

    response = api_client.post(_url(store), {"amount": "10"}, format="json", **headers)

    assert response.status_code == 503, response.content
    assert response.json()["code"] == "lightning-node-unreachable"
    assert (Invoice.objects.count(), Event.objects.filter(aggregate_type="invoice").count()) == before
    # the store can still take on-chain payments meanwhile
    only_chain = api_client.post(_url(store), {"amount": "10", "checkout": {"paymentMethods": ["BTC-CHAIN"]}}, format="json", **headers)
    assert only_chain.status_code == 200


def test_store_path_twins_of_the_flat_endpoints(api_client, shop):
    store, headers = shop
    invoice = _create(api_client, store, headers)
    base = _url(store, f"/{invoice['id']}")
    assert api_client.get(base, **headers).json()["id"] == invoice["id"]
    assert api_client.put(base, {"metadata": {"orderId": "X"}}, format="json", **headers).json()["metadata"] == {"orderId": "X"}
    methods = api_client.get(f"{base}/payment-methods", **headers)
    assert [m["paymentMethodId"] for m in methods.json()] == ["BTC-CHAIN", "BTC-LN"]
    assert api_client.delete(base, **headers).status_code == 200
    assert api_client.post(f"{base}/unarchive", **headers).json()["archived"] is False
    marked = api_client.post(f"{base}/status", {"status": "Invalid"}, format="json", **headers).json()
    assert (marked["status"], marked["additionalStatus"]) == ("Invalid", "Marked")


def test_activate_payment_method(api_client, shop):
    store, headers = shop
    invoice = _create(api_client, store, headers, {"amount": "1", "checkout": {"paymentMethods": ["BTC-CHAIN"]}})
    url = f"/api/v1/invoices/{invoice['id']}/payment-methods"
    assert api_client.post(f"{url}/BTC-CHAIN/activate", **headers).status_code == 200
    refused = api_client.post(f"{url}/BTC-LN/activate", **headers)
    assert refused.status_code == 400 and refused.json()[0]["path"] == "paymentMethodId"


@pytest.mark.django_db(transaction=True)
def test_activating_btc_ln_after_a_partial_payment_mints_the_bolt11_for_the_rest(
    api_client, shop, bitcoind_client, bitcoind_miner, lnd_network, lnd_external
):
    store, headers = shop
    onchain_sync_once(client=bitcoind_client)
    # given an invoice of 20,000 sats of which 5,000 arrived on-chain, its BOLT11 for the rest not minted yet
    invoice = _create(api_client, store, headers, {"amount": "0.0002", "currency": "BTC"})
    methods_url = f"/api/v1/invoices/{invoice['id']}/payment-methods"
    methods = {m["paymentMethodId"]: m for m in api_client.get(methods_url, **headers).json()}
    old_bolt11 = methods["BTC-LN"]["destination"]
    bitcoind_miner.send_to_address(methods["BTC-CHAIN"]["destination"], Decimal("0.00005"))
    onchain_sync_once(client=bitcoind_client)
    deliver()
    stale = {m["paymentMethodId"]: m for m in api_client.get(methods_url, **headers).json()}["BTC-LN"]
    assert (stale["destination"], stale["activated"]) == (old_bolt11, False)
    minted = LightningInvoice.objects.count()

    # when the merchant activates BTC-LN (store path)
    response = api_client.post(_url(store, f"/{invoice['id']}/payment-methods/BTC-LN/activate"), **headers)
    # then it is minted there and then: a BOLT11 for exactly the 15,000 sats due
    assert response.status_code == 200, response.content
    ln = {m["paymentMethodId"]: m for m in api_client.get(methods_url, **headers).json()}["BTC-LN"]
    assert ln["activated"] is True and ln["destination"] != old_bolt11
    assert bolt11.decode(ln["destination"]).amount_msat == 15_000_000
    assert LightningInvoice.objects.count() == minted + 1

    # activating an active method again (flat path), and the queued task, mint nothing more
    assert api_client.post(f"{methods_url}/BTC-LN/activate", **headers).status_code == 200
    assert api_client.post(f"{methods_url}/BTC-CHAIN/activate", **headers).status_code == 200
    assert tasks.invoice_lightning_remainder_task(invoice["id"]) is False
    assert LightningInvoice.objects.count() == minted + 1
    assert {m["paymentMethodId"]: m for m in api_client.get(methods_url, **headers).json()}["BTC-LN"] == ln

    # and the buyer can pay it
    assert lnd_external.pay(ln["destination"], fee_limit_msat=1000, timeout=5).status == PaymentStatus.SUCCESS


@pytest.mark.django_db(transaction=True)
def test_activating_btc_ln_when_no_bolt11_for_the_rest_can_be_minted(api_client, shop, lnd_network):
    store, headers = shop
    invoice = _create(api_client, store, headers, {"amount": "0.0002", "currency": "BTC"})
    address = InvoicePaymentPrompt.objects.get(invoice_id=invoice["id"], payment_method_id="BTC-CHAIN").address
    invoice_payment_onchain_record(address=address, txid="9a" * 32, vout=0, amount_msat=5_000_000, chain_status="seen", block_height=None)
    url = f"/api/v1/invoices/{invoice['id']}/payment-methods/BTC-LN/activate"
    before = _counts()

    # the node is down: a clear error, nothing written
    lnd_network.nodes["flashpay"].server.stop(grace=0).wait(5)
    refused = api_client.post(url, **headers)
    assert refused.status_code == 503 and refused.json()["code"] == "lightning-node-unreachable"
    assert _counts() == before

    # past its expiration (the worker has not marked it Expired yet): nothing is minted for it
    Invoice.objects.filter(pk=invoice["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    refused = api_client.post(url, **headers)
    assert refused.status_code == 422
    assert refused.json() == {
        "code": "payment-method-unavailable",
        "message": "This invoice has expired: no Lightning invoice is made for what is due",
    }
    assert _counts() == before
