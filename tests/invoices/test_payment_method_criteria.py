"""A store's paymentMethodCriteria decide which methods an invoice offers, as in BTCPay."""
import pytest

from invoices.models import Invoice
from tests.invoices.test_apis_invoices import _counts, _create, _url

pytestmark = pytest.mark.django_db


def _criteria(api_client, store, headers, criteria):
    response = api_client.put(f"/api/v1/stores/{store.pk}", {"paymentMethodCriteria": criteria}, format="json", **headers)
    assert response.status_code == 200, response.content


def _methods(invoice):
    return invoice["checkout"]["paymentMethods"]


def test_on_chain_above_and_lightning_below_an_amount(api_client, shop):
    # given: on-chain from 100 USD, Lightning up to 0.001 BTC (50 USD at 50,000 USD/BTC)
    store, headers = shop
    _criteria(api_client, store, headers, [
        {"paymentMethodId": "BTC-CHAIN", "currencyCode": "USD", "amount": "100", "above": True},
        {"paymentMethodId": "BTC-LN", "currencyCode": "BTC", "amount": "0.001", "above": False},
    ])
    # then
    assert _methods(_create(api_client, store, headers, {"amount": "20", "currency": "USD"})) == ["BTC-LN"]
    assert _methods(_create(api_client, store, headers, {"amount": "50", "currency": "USD"})) == ["BTC-LN"]
    assert _methods(_create(api_client, store, headers, {"amount": "500", "currency": "USD"})) == ["BTC-CHAIN"]
    # a top-up has no amount to compare: every method
    assert _methods(_create(api_client, store, headers, {"currency": "USD"})) == ["BTC-CHAIN", "BTC-LN"]


def test_no_method_left_is_a_clear_400_that_writes_nothing(api_client, shop):
    store, headers = shop
    _criteria(api_client, store, headers, [
        {"paymentMethodId": "BTC-CHAIN", "currencyCode": "USD", "amount": "100", "above": True},
    ])
    before = _counts()
    response = api_client.post(_url(store), {"amount": "5", "currency": "USD", "checkout": {"paymentMethods": ["BTC_CHAIN"]}}, format="json", **headers)
    assert response.status_code == 400
    assert [e["path"] for e in response.json()] == ["checkout.paymentMethods"]
    assert _counts() == before


def test_a_criterion_no_rate_can_price_withholds_its_method(api_client, shop):
    store, headers = shop
    _criteria(api_client, store, headers, [
        {"paymentMethodId": "BTC-LN", "currencyCode": "EUR", "amount": "1", "above": True},
    ])
    invoice = _create(api_client, store, headers, {"amount": "10", "currency": "USD"})
    assert _methods(invoice) == ["BTC-CHAIN"]
    assert Invoice.objects.get(pk=invoice["id"]).prompts.filter(payment_method_id="BTC-LN").count() == 0
