"""rates_refresh: each source parsed from its real answer; failures keep the previous good rates."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest
from django.conf import settings

from invoices.rates.errors import RateUnavailable
from invoices.rates.selectors import rate_get
from invoices.rates.services import rates_refresh

from .conftest import sample


def only(source: str, pair: str):
    return rate_get(pair=pair, source_preference=[source])


def test_kraken_ticker_is_parsed_from_its_real_shape(rates_settings, rate_server):
    # given
    rate_server.serve_real_answers()

    # when
    [result] = rates_refresh(sources=["kraken"])

    # then
    assert result.ok
    assert sorted(result.pairs) == ["BTC_CAD", "BTC_EUR", "BTC_GBP", "BTC_USD"]
    [request] = rate_server.requests
    assert request == "/0/public/Ticker?pair=XBTUSD%2CXBTEUR%2CXBTGBP%2CXBTCAD"
    usd = only("kraken", "BTC_USD")
    assert (usd.bid, usd.ask) == (Decimal("67210.00000"), Decimal("67210.10000"))
    assert usd.source == "kraken(BTC_USD)"
    eur = only("kraken", "BTC_EUR")
    assert (eur.bid, eur.ask) == (Decimal("62000.90000"), Decimal("62001.50000"))


def test_bitstamp_ticker_is_parsed_from_its_real_shape(rates_settings, rate_server):
    rate_server.serve_real_answers()

    [result] = rates_refresh(sources=["bitstamp"])

    assert result.ok and sorted(result.pairs) == ["BTC_EUR", "BTC_GBP", "BTC_USD"]
    assert sorted(rate_server.requests) == [
        "/api/v2/ticker/btceur/",
        "/api/v2/ticker/btcgbp/",
        "/api/v2/ticker/btcusd/",
    ]
    usd = only("bitstamp", "BTC_USD")
    assert (usd.bid, usd.ask, usd.source) == (Decimal("67201"), Decimal("67209"), "bitstamp(BTC_USD)")


def test_coingecko_exchange_rates_keep_every_digit_and_only_fiat(rates_settings, rate_server):
    rate_server.serve_real_answers()
    rates_settings.RATES_SOURCES = ["coingecko"]

    [result] = rates_refresh(sources=["coingecko"])

    assert result.ok
    assert sorted(result.pairs) == ["BTC_BMD", "BTC_EUR", "BTC_GBP", "BTC_JPY", "BTC_USD"]
    usd = only("coingecko", "BTC_USD")
    # 67187.33580000001 is not a float64 value: only a Decimal parse keeps the last digit.
    assert usd.bid == usd.ask == Decimal("67187.33580000001")
    assert only("coingecko", "BTC_JPY").bid == Decimal("10123456")
    # crypto and commodity entries (ETH, sats, gold) are not fiat rates
    for pair in ("BTC_ETH", "BTC_XAU", "BTC_SATS"):
        with pytest.raises(RateUnavailable):
            rate_get(pair=pair)


def test_one_source_failing_does_not_stop_the_others(rates_settings, rate_server):
    rate_server.serve_real_answers()
    rate_server.serve("/0/public/Ticker", "oops", status=500)

    results = {r.source: r for r in rates_refresh(sources=["kraken", "bitstamp", "coingecko"])}

    assert results["kraken"].error == f"HTTP 500 from {rate_server.url}/0/public/Ticker"
    assert results["bitstamp"].ok and results["coingecko"].ok
    assert rate_get(pair="BTC_USD").source == "bitstamp(BTC_USD)"


def kraken_with(**ticker_changes) -> str:
    answer = json.loads(sample("kraken_ticker.json"))
    answer["result"]["XXBTZUSD"].update(ticker_changes)
    return json.dumps(answer)


BAD_ANSWERS = {
    "kraken": ("/0/public/Ticker", [
        (500, '{"error":["EService:Unavailable"]}', "HTTP 500"),
        (200, "<html>Cloudflare</html>", "not JSON"),
        (200, '{"error":["EQuery:Unknown asset pair"]}', "API error: EQuery:Unknown asset pair"),
        (200, '{"error":[],"result":{}}', "no 'result' tickers"),
        (200, kraken_with(b=["abc", "1", "1.000"]), "BTC_USD bid is not a number"),
        (200, kraken_with(b=["-1", "1", "1.000"]), "BTC_USD bid is not a positive number"),
        (200, kraken_with(a=[]), "has no bid/ask"),
        (200, kraken_with(b=[67300.5, "1", "1"], a=["67210.1", "1", "1"]), "bid 67300.5 is above ask"),
        (200, '[1, 2, 3]', "no 'error' list"),
    ]),
    "bitstamp": ("/api/v2/ticker/btcusd/", [
        (500, "Internal Server Error", "HTTP 500"),
        (200, '{"bid": "NaN", "ask": "67209"}', "BTC_USD bid is not a positive number"),
        (200, '{"bid": NaN, "ask": 67209}', "not JSON"),
        (200, '{"last": "67205"}', "no bid/ask"),
        (200, '{"bid": true, "ask": "67209"}', "not a number"),
    ]),
    "coingecko": ("/api/v3/exchange_rates", [
        (429, '{"status":{"error_code":429,"error_message":"You\'ve exceeded the Rate Limit."}}', "HTTP 429"),
        (200, '{"rates": {"usd": {"value": 67000, "type": "fiat"}}}', "rates.btc.value != 1"),
        (200, '{"rates": {"btc": {"value": 1, "type": "crypto"}, "usd": {"value": "lots", "type": "fiat"}}}', "not a number"),
        (200, '{"rates": {"btc": {"value": 1, "type": "crypto"}, "usd": {"value": Infinity, "type": "fiat"}}}', "not JSON"),
        (200, '{"data": []}', "no 'rates' object"),
    ]),
}
CASES = [
    pytest.param(source, status, body, error, id=f"{source}-{i}")
    for source, (_, answers) in BAD_ANSWERS.items()
    for i, (status, body, error) in enumerate(answers)
]


@pytest.mark.parametrize(("source", "status", "body", "error"), CASES)
def test_a_bad_answer_leaves_the_previous_good_rate_in_place(rates_settings, rate_server, source, status, body, error):
    # given a good refresh
    rate_server.serve_real_answers()
    rates_settings.RATES_BITSTAMP_PAIRS = ["BTC_USD"]
    rates_refresh(sources=[source])
    before = only(source, "BTC_USD")

    # when the source answers badly
    path, _ = BAD_ANSWERS[source]
    rate_server.serve(path, body, status=status)
    [result] = rates_refresh(sources=[source])

    # then the refresh reports why and the cache still holds the previous good quote
    assert not result.ok and result.pairs == ()
    assert error in result.error
    after = only(source, "BTC_USD")
    assert after == before


def test_bad_answer_on_an_empty_cache_stores_nothing(rates_settings, rate_server):
    rate_server.serve("/0/public/Ticker", kraken_with(b=["abc", "1", "1.000"]))

    [result] = rates_refresh(sources=["kraken"])

    assert not result.ok
    # the good EUR ticker of the same answer was not stored either: the answer is refused whole
    for pair in ("BTC_USD", "BTC_EUR"):
        with pytest.raises(RateUnavailable, match=pair):
            only("kraken", pair)


def test_bitstamp_pair_that_fails_keeps_its_old_rate_while_the_others_update(rates_settings, rate_server):
    rate_server.serve_real_answers()
    rates_refresh(sources=["bitstamp"])
    eur_before = only("bitstamp", "BTC_EUR")
    rate_server.serve("/api/v2/ticker/btceur/", '{"errors": [{"message": "Not found"}]}', status=404)
    rate_server.serve("/api/v2/ticker/btcusd/", '{"bid": "70000", "ask": "70010"}')

    [result] = rates_refresh(sources=["bitstamp"])

    assert sorted(result.pairs) == ["BTC_GBP", "BTC_USD"]
    assert only("bitstamp", "BTC_USD").bid == Decimal("70000")
    assert only("bitstamp", "BTC_EUR") == eur_before


def test_unreachable_source_is_reported_and_no_rate_is_made_up(rates_settings, closed_port_url):
    rates_settings.RATES_KRAKEN_URL = closed_port_url

    [result] = rates_refresh(sources=["kraken"])

    assert result.error == f"could not fetch {closed_port_url}/0/public/Ticker: ConnectError"
    with pytest.raises(RateUnavailable, match="BTC_USD"):
        rate_get(pair="BTC_USD")


def test_slow_source_times_out(rates_settings, rate_server):
    rates_settings.RATES_HTTP_TIMEOUT = 0.3
    rate_server.serve("/0/public/Ticker", sample("kraken_ticker.json"), delay=1.5)

    [result] = rates_refresh(sources=["kraken"])

    assert result.error == f"timed out fetching {rate_server.url}/0/public/Ticker"
    with pytest.raises(RateUnavailable):
        rate_get(pair="BTC_USD")


def test_oversized_answer_is_refused(rates_settings, rate_server):
    rate_server.serve("/api/v3/exchange_rates", b" " * 1_100_000 + sample("coingecko_exchange_rates.json"))

    [result] = rates_refresh(sources=["coingecko"])

    assert "larger than" in result.error
    with pytest.raises(RateUnavailable):
        rate_get(pair="BTC_USD")


def test_rates_fetched_by_another_process_are_read_here(rates_settings, rate_server, tmp_path):
    """The worker fetches, the web reads: the default file cache carries rates between processes."""
    location = tmp_path / "rates-cache"
    rates_settings.CACHES = {
        **rates_settings.CACHES,
        "rates": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(location)},
    }
    rate_server.serve_real_answers()
    env = {
        **os.environ,
        "RATES_CACHE_URL": f"filecache://{location}",
        "RATES_KRAKEN_URL": rate_server.url,
        "RATES_SOURCES": "kraken",
    }
    worker = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "from invoices.rates.services import rates_refresh; print(rates_refresh()[0].ok)"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60,
    )

    assert worker.returncode == 0, worker.stderr
    assert worker.stdout.strip().splitlines()[-1] == "True"
    rate = rate_get(pair="BTC_USD")
    assert (rate.bid, rate.source) == (Decimal("67210.00000"), "kraken(BTC_USD)")
