"""rate_get / rates_get: direct, inverse and cross rates, spread, staleness and clear errors."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from flashpay.errors import ApplicationError, api_exception_handler
from flashpay.money import Msat
from invoices.rates.cache import _cache, quotes_store
from invoices.rates.errors import InvalidCurrencyPair, RateUnavailable
from invoices.rates.selectors import rate_get, rate_sources_list, rates_get
from invoices.rates.services import rates_refresh
from invoices.rates.types import CurrencyPair, Quote

KRAKEN_BID, KRAKEN_ASK = Decimal("67210.00000"), Decimal("67210.10000")


@pytest.fixture
def kraken_fetched(rates_settings, rate_server):
    rate_server.serve_real_answers()
    rates_settings.RATES_SOURCES = ["fixed", "kraken"]
    before = timezone.now()
    [result] = rates_refresh(sources=["kraken"])
    assert result.ok
    return before


def test_cross_rate_btc_jmd_is_btc_usd_times_fixed_usd_jmd_exactly(rates_settings, kraken_fetched):
    rates_settings.RATES_FIXED = {"USD_JMD": "157.5"}

    rate = rate_get(pair="BTC_JMD")

    assert rate.pair == "BTC_JMD"
    assert rate.bid == Decimal("10585575.000000") == KRAKEN_BID * Decimal("157.5")
    assert rate.ask == Decimal("10585590.750000") == KRAKEN_ASK * Decimal("157.5")
    assert rate.value == rate.bid
    assert rate.source == "kraken(BTC_USD) * fixed(USD_JMD)"
    # a cross rate is as old as its oldest leg: the fetched one, not the fixed one (always "now")
    assert kraken_fetched <= rate.fetched_at <= timezone.now()


def test_cross_rate_uses_an_inverse_leg(rates_settings, kraken_fetched):
    # the operator quoted the JMD the other way round: 1 JMD = 0.0064 USD, so 1 USD = 156.25 JMD
    rates_settings.RATES_FIXED = {"JMD_USD": "0.0064"}

    rate = rate_get(pair="BTC_JMD")

    assert rate.bid == KRAKEN_BID * Decimal("156.25")
    assert rate.ask == KRAKEN_ASK * Decimal("156.25")
    assert rate.source == "kraken(BTC_USD) * 1 / fixed(JMD_USD)"


def test_inverse_pair_swaps_bid_and_ask(kraken_fetched):
    rate = rate_get(pair="USD_BTC")

    assert rate.bid == Decimal(1) / KRAKEN_ASK
    assert rate.ask == Decimal(1) / KRAKEN_BID
    assert rate.bid < rate.ask


def test_spread_lowers_the_bid_and_raises_the_ask(rates_settings, kraken_fetched):
    rates_settings.RATES_FIXED = {"USD_JMD": "157.5"}

    plain = rate_get(pair="BTC_USD")
    spread = rate_get(pair="BTC_USD", spread_percent=Decimal("1.5"))
    cross = rate_get(pair="BTC_JMD", spread_percent="2")

    assert spread.bid == KRAKEN_BID * Decimal("0.985") == Decimal("66201.850000000")
    assert spread.ask == KRAKEN_ASK * Decimal("1.015")
    # applied once, to the result: not to each leg of a cross rate
    assert cross.bid == KRAKEN_BID * Decimal("157.5") * Decimal("0.98")
    # the customer pays more sats for the same fiat amount: the merchant is covered
    usd = Decimal("25.00")
    assert Msat.from_fiat(usd, rate=spread.value) > Msat.from_fiat(usd, rate=plain.value)


@pytest.mark.parametrize("spread", [Decimal("-0.1"), Decimal("100"), "1e3", "abc", "NaN"])
def test_invalid_spread_is_refused(kraken_fetched, spread):
    with pytest.raises(ApplicationError) as caught:
        rate_get(pair="BTC_USD", spread_percent=spread)

    assert caught.value.code == "invalid-spread"
    assert caught.value.status_code == 422


def test_float_spread_is_a_programming_error(kraken_fetched):
    with pytest.raises(TypeError):
        rate_get(pair="BTC_USD", spread_percent=1.5)


def test_rate_older_than_ten_minutes_is_refused_with_the_pair_named(kraken_fetched):
    fetched_at = rate_get(pair="BTC_USD").fetched_at

    assert rate_get(pair="BTC_USD", now=fetched_at + timedelta(seconds=599)).bid == KRAKEN_BID
    with pytest.raises(RateUnavailable) as caught:
        rate_get(pair="BTC_USD", now=fetched_at + timedelta(minutes=11))

    assert caught.value.message == (
        "No exchange rate is available for BTC_USD: the newest one found (kraken(BTC_USD)) "
        "is 11 minutes old, and rates are valid for 10 minutes."
    )


def test_cross_rate_with_a_stale_leg_is_refused(rates_settings, kraken_fetched):
    rates_settings.RATES_FIXED = {"USD_JMD": "157.5"}
    fetched_at = rate_get(pair="BTC_USD").fetched_at

    with pytest.raises(RateUnavailable, match="BTC_JMD"):
        rate_get(pair="BTC_JMD", now=fetched_at + timedelta(minutes=10, seconds=1))


def test_stale_preferred_source_falls_back_to_a_fresh_one(rates_settings, kraken_fetched):
    rates_settings.RATES_SOURCES = ["kraken", "bitstamp"]
    later = timezone.now() + timedelta(minutes=11)
    # kraken's quote (fetched now) is stale by then; bitstamp's was fetched a minute before
    quotes_store([Quote(CurrencyPair("BTC", "USD"), Decimal("67201"), Decimal("67209"), later - timedelta(minutes=1), "bitstamp")])

    rate = rate_get(pair="BTC_USD", now=later)

    assert rate.source == "bitstamp(BTC_USD)"
    assert rate.bid == Decimal("67201")


def test_no_rate_anywhere_is_a_422_naming_the_pair(kraken_fetched):
    with pytest.raises(RateUnavailable) as caught:
        rate_get(pair="BTC_JMD")

    response = api_exception_handler(caught.value, {})
    assert response.status_code == 422
    assert response.data == {"code": "rate-unavailable", "message": "No exchange rate is available for BTC_JMD."}


@pytest.mark.parametrize("pair", ["BTCUSD", "BTC-USD", "BTC_", "_USD", "BTC_USD_EUR", "", "B€_USD"])
def test_malformed_pair_is_refused(kraken_fetched, pair):
    with pytest.raises(InvalidCurrencyPair) as caught:
        rate_get(pair=pair)

    assert caught.value.code == "invalid-currency-pair"
    assert caught.value.status_code == 422


def test_pair_is_case_insensitive_and_same_currency_is_one(kraken_fetched):
    assert rate_get(pair="btc_usd").bid == KRAKEN_BID
    one = rate_get(pair="JMD_JMD")
    assert (one.bid, one.ask) == (Decimal(1), Decimal(1))


def test_source_preference_picks_the_store_source(rates_settings, rate_server):
    rate_server.serve_real_answers()
    rates_settings.RATES_SOURCES = ["kraken", "bitstamp", "coingecko"]
    rates_refresh()

    assert rate_get(pair="BTC_USD").source == "kraken(BTC_USD)"
    assert rate_get(pair="BTC_USD", source_preference=["bitstamp"]).bid == Decimal("67201")
    assert rate_get(pair="BTC_USD", source_preference=["coingecko"]).bid == Decimal("67187.33580000001")
    # a pair the preferred source lacks still comes from the others
    assert rate_get(pair="BTC_CAD", source_preference=["bitstamp"]).source == "kraken(BTC_CAD)"


def test_unknown_or_disabled_source_preference_is_refused(rates_settings, kraken_fetched):
    for preference in (["nosuch"], ["coingecko"]):  # coingecko is not enabled here
        with pytest.raises(ApplicationError) as caught:
            rate_get(pair="BTC_USD", source_preference=preference)
        assert caught.value.code == "invalid-rate-source"


def test_fiat_legs_from_coingecko_cross_with_an_exchange(rates_settings, rate_server):
    rate_server.serve_real_answers()
    rates_settings.RATES_SOURCES = ["kraken", "coingecko"]
    rates_refresh()

    # BTC_JPY only on CoinGecko directly: used as is
    assert rate_get(pair="BTC_JPY").source == "coingecko(BTC_JPY)"
    # EUR_GBP: no source has it, nor EUR_USD; so through BTC: 1 / BTC_EUR * BTC_GBP
    rate = rate_get(pair="EUR_GBP")
    assert rate.source == "1 / kraken(BTC_EUR) * kraken(BTC_GBP)"
    assert rate.bid == (Decimal(1) / Decimal("62001.50000")) * Decimal("52998.10000")


def test_rates_get_answers_each_pair_with_a_rate_or_its_error(rates_settings, kraken_fetched):
    rates_settings.RATES_FIXED = {"USD_JMD": "157.5"}

    results = rates_get(pairs=["BTC_USD", "BTC_JMD", "BTC_XYZ", "nonsense"], spread_percent="1")

    assert [r.pair for r in results] == ["BTC_USD", "BTC_JMD", "BTC_XYZ", "nonsense"]
    assert results[0].rate.bid == KRAKEN_BID * Decimal("0.99") and results[0].errors == []
    assert results[1].rate.source == "kraken(BTC_USD) * fixed(USD_JMD)"
    assert results[2].rate is None and results[2].errors == ["No exchange rate is available for BTC_XYZ."]
    assert results[3].rate is None and "Invalid currency pair 'nonsense'" in results[3].errors[0]


def test_misconfigured_fixed_rate_is_a_configuration_error(rates_settings, kraken_fetched):
    rates_settings.RATES_FIXED = {"USD_JMD": "a lot"}

    with pytest.raises(ImproperlyConfigured, match="RATES_FIXED: cannot read USD_JMD=a lot"):
        rate_get(pair="BTC_JMD")


def test_unreadable_cache_entry_is_ignored_not_served(kraken_fetched):
    _cache().set("rates:v1:kraken:BTC_USD", {"bid": "garbage"})

    with pytest.raises(RateUnavailable, match="BTC_USD"):
        rate_get(pair="BTC_USD")


def test_rate_sources_list_names_every_source_enabled_first(rates_settings):
    rates_settings.RATES_SOURCES = ["bitstamp", "fixed"]

    assert [(s.id, s.name) for s in rate_sources_list()] == [
        ("bitstamp", "Bitstamp"),
        ("fixed", "Fixed rates set by the operator (RATES_FIXED)"),
        ("kraken", "Kraken"),
        ("coingecko", "CoinGecko"),
    ]
