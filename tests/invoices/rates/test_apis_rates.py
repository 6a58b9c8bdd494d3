"""Greenfield store rates: configuration (primary, fallback), preview, the store's rates, /misc/rate-sources."""
from decimal import Decimal

import pytest
from django.utils import timezone

from flashpay.accounts.models import Store
from invoices.rates.services import rates_refresh
from tests.factories import StoreFactory, UserFactory, add_member, create_api_key, token_header
from tests.invoices.greenfield_schema import validate

pytestmark = pytest.mark.django_db

KRAKEN_BID = Decimal("67210.00000")
BITSTAMP_BID = Decimal("67201")  # bid of the stored bitstamp_btcusd.json answer


@pytest.fixture
def fetched(rates_settings, rate_server):
    rate_server.serve_real_answers()
    rates_settings.RATES_SOURCES = ["fixed", "kraken", "bitstamp"]
    rates_settings.RATES_FIXED = {"USD_JMD": "157.5"}
    assert all(r.ok for r in rates_refresh(sources=["kraken", "bitstamp"]))
    return timezone.now()


@pytest.fixture
def owner(api_client):
    user = UserFactory()
    store = StoreFactory(owner=user)
    _, secret = create_api_key(user=user, permissions=[f"btcpay.store.canmodifystoresettings:{store.pk}"])
    headers = token_header(secret)

    def call(method, path, body=None, **extra):
        return getattr(api_client, method)(f"/api/v1/stores/{store.pk}{path}", body, format="json", **{**headers, **extra})

    return store, call


def test_the_default_configuration(owner, fetched):
    store, call = owner
    for path in ("/rates/configuration", "/rates/configuration/primary", "/rates/configuration/Primary"):
        response = call("get", path)
        assert response.status_code == 200, (path, response.content)
        validate(response.json(), "StoreRateConfiguration")
        assert response.json() == {"spread": 0, "preferredSource": "fixed", "isCustomScript": False, "effectiveScript": "X_X = fixed(X_X);"}
    disabled = call("get", "/rates/configuration/fallback")
    assert (disabled.status_code, disabled.json()["code"]) == (404, "fallback-disabled")
    assert call("get", "/rates/configuration/secondary").status_code == 404


def test_preferred_source_and_spread_price_the_store_rates(owner, fetched):
    store, call = owner
    def rate(pair="BTC_USD"):
        [result] = call("get", f"/rates?currencyPair={pair}").json()
        validate(result, "StoreRateResult")
        return Decimal(result["rate"])

    assert rate() == KRAKEN_BID  # fixed has no BTC_USD, kraken comes next
    response = call("put", "/rates/configuration", {"preferredSource": "BITSTAMP", "spread": 1.5})
    assert response.status_code == 200, response.content
    assert response.json() == {"spread": 1.5, "preferredSource": "bitstamp", "isCustomScript": False, "effectiveScript": "X_X = bitstamp(X_X);"}
    assert rate() == BITSTAMP_BID * Decimal("0.985")
    assert rate("BTC_JMD") == BITSTAMP_BID * Decimal("157.5") * Decimal("0.985")
    assert (Store.objects.get(pk=store.pk).rate_spread, Store.objects.get(pk=store.pk).rate_preferred_source) == (Decimal("1.5"), "bitstamp")
    # the fallback shares the spread and turns on when set
    fallback = call("put", "/rates/configuration/fallback", {"preferredSource": "kraken", "spread": 1.5})
    assert fallback.json()["preferredSource"] == "kraken"
    assert call("get", "/rates/configuration/fallback").status_code == 200


def test_rates_without_pairs_and_with_bad_pairs(owner, fetched):
    store, call = owner
    assert call("get", "/rates").json() == []  # a store has no default pairs, as in BTCPay unless set
    bad = call("get", "/rates?currencyPair=BTC_USD&currencyPair=BTCUSD")
    assert (bad.status_code, bad.json()[0]["path"]) == (400, "currencyPair")
    missing = call("get", "/rates?currencyPair=BTC_XYZ").json()
    assert missing[0]["rate"] is None and "BTC_XYZ" in missing[0]["errors"][0]
    validate(missing[0], "StoreRateResult")


def test_preview_prices_a_configuration_without_saving_it(owner, fetched):
    store, call = owner
    response = call("post", "/rates/configuration/preview?currencyPair=BTC_USD&currencyPair=BTC_EUR", {"preferredSource": "bitstamp", "spread": 0})
    assert response.status_code == 200, response.content
    assert [r["currencyPair"] for r in response.json()] == ["BTC_USD", "BTC_EUR"]
    assert Decimal(response.json()[0]["rate"]) == BITSTAMP_BID
    for result in response.json():
        validate(result, "StoreRateResult")
    assert Store.objects.get(pk=store.pk).rate_preferred_source == ""


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"isCustomScript": True, "effectiveScript": "X_X = kraken(X_X);"}, "isCustomScript"),
        ({"effectiveScript": "X_X = kraken(X_X);"}, "effectiveScript"),
        ({"preferredSource": "binance"}, "preferredSource"),
        ({"spread": 100}, "spread"),
        ({"spread": -1}, "spread"),
        ({"spread": "lots"}, "spread"),
    ],
)
def test_bad_configurations_are_400_and_change_nothing(owner, fetched, body, path):
    store, call = owner
    for url in ("/rates/configuration/primary", "/rates/configuration/preview"):
        response = call("put" if url.endswith("primary") else "post", url, body)
        assert response.status_code == 400, (url, response.content)
        assert response.json()[0]["path"] == path
    saved = Store.objects.get(pk=store.pk)
    assert (saved.rate_spread, saved.rate_preferred_source, saved.rate_fallback_source) == (0, "", None)


def test_permissions(api_client, fetched):
    user = UserFactory()
    store = StoreFactory()
    add_member(store=store, user=user, role="Manager")  # may view the store settings, not change them
    _, secret = create_api_key(user=user, permissions=["btcpay.store.canmodifystoresettings"])
    headers = token_header(secret)
    base = f"/api/v1/stores/{store.pk}"
    assert api_client.get(f"{base}/rates?currencyPair=BTC_USD", **headers).status_code == 200
    assert api_client.get(f"{base}/rates/configuration", **headers).status_code == 200
    assert api_client.put(f"{base}/rates/configuration", {"spread": 1}, format="json", **headers).status_code == 403
    assert api_client.post(f"{base}/rates/configuration/preview", {}, format="json", **headers).status_code == 403
    assert api_client.get(f"{base}/rates/configuration").status_code == 401
    assert Store.objects.get(pk=store.pk).rate_spread == 0


def test_misc_rate_sources_lists_the_enabled_ones(api_client, fetched):
    _, secret = create_api_key(permissions=[])
    response = api_client.get("/misc/rate-sources", **token_header(secret))
    assert response.status_code == 200
    assert [s["id"] for s in response.json()] == ["fixed", "kraken", "bitstamp"]
    assert all(set(s) == {"id", "name"} and s["name"] for s in response.json())
    assert api_client.get("/misc/rate-sources").status_code == 401
