"""Rate source adapters: each parses its exchange's real public API answer into bid/ask quotes.

Every number is parsed as ``Decimal`` (``json.loads(parse_float=Decimal)``), never as float. An
answer that is not what the exchange documents raises ``RateSourceError`` as a whole, so a
half-understood answer never reaches the cache. Base URLs come from settings so tests can point
the adapters at a local HTTP server.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .errors import RateSourceError
from .types import CurrencyPair

logger = logging.getLogger(__name__)

# Ticker answers are a few kB (CoinGecko's exchange_rates about 10 kB); anything far larger is
# not a ticker, and reading it whole would only waste the worker's memory.
MAX_RESPONSE_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class FetchedQuote:
    pair: CurrencyPair
    bid: Decimal
    ask: Decimal


@dataclass(frozen=True, slots=True)
class RateSourceInfo:
    """Greenfield's ``/misc/rate-sources`` item: ``{id, name}``."""

    id: str
    name: str


class HttpRateSource:
    """A source fetched over HTTP by the background fetcher."""

    id: str
    name: str

    def fetch(self, client: httpx.Client) -> list[FetchedQuote]:
        raise NotImplementedError

    # helpers shared by the adapters

    def _get_json(self, client: httpx.Client, url: str, params: dict[str, str] | None = None):
        try:
            with client.stream("GET", url, params=params) as response:
                if response.status_code != 200:
                    raise RateSourceError(self.id, f"HTTP {response.status_code} from {url}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise RateSourceError(self.id, f"answer from {url} is larger than {MAX_RESPONSE_BYTES} bytes")
        except httpx.TimeoutException:
            raise RateSourceError(self.id, f"timed out fetching {url}")
        except httpx.HTTPError as exc:
            raise RateSourceError(self.id, f"could not fetch {url}: {type(exc).__name__}")
        try:
            return json.loads(bytes(body), parse_float=Decimal, parse_int=Decimal, parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError):
            raise RateSourceError(self.id, f"answer from {url} is not JSON")

    def _price(self, value, what: str) -> Decimal:
        """A strictly positive finite Decimal from a JSON number (already Decimal) or a string."""
        if isinstance(value, bool) or not isinstance(value, Decimal | str):
            raise RateSourceError(self.id, f"{what} is not a number: {str(value)[:40]!r}")
        try:
            price = Decimal(value)
        except InvalidOperation:
            raise RateSourceError(self.id, f"{what} is not a number: {value[:40]!r}")
        if not price.is_finite() or price <= 0:
            raise RateSourceError(self.id, f"{what} is not a positive number: {str(value)[:40]!r}")
        return price

    def _quote(self, pair: CurrencyPair, bid, ask) -> FetchedQuote:
        bid = self._price(bid, f"{pair} bid")
        ask = self._price(ask, f"{pair} ask")
        if bid > ask:
            # A crossed book is not a market price; better no rate than a wrong one.
            raise RateSourceError(self.id, f"{pair} bid {bid} is above ask {ask}")
        return FetchedQuote(pair, bid, ask)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a price")


def _configured_pairs(setting: str) -> list[CurrencyPair]:
    try:
        return [CurrencyPair.parse(text) for text in getattr(settings, setting)]
    except Exception as exc:
        raise ImproperlyConfigured(f"{setting}: {exc}")


class KrakenSource(HttpRateSource):
    """Kraken REST ``GET /0/public/Ticker?pair=XBTUSD,XBTEUR``.

    Answer: ``{"error": [], "result": {"XXBTZUSD": {"a": [ask, wholeLotVolume, lotVolume],
    "b": [bid, ...], "c": [last, volume], ...}}}``; prices are strings. Kraken names bitcoin XBT
    and keys the result by its own pair names (``XXBTZUSD`` for the legacy fiat pairs, ``XBTCHF``
    for newer ones), so the names are mapped back to ours.
    """

    id = "kraken"
    name = "Kraken"
    _BTC_PREFIXES = ("XXBT", "XBT")
    # Kraken's legacy asset codes for fiat carry a "Z" prefix.
    _LEGACY_FIAT = {"ZUSD": "USD", "ZEUR": "EUR", "ZGBP": "GBP", "ZCAD": "CAD", "ZJPY": "JPY"}

    def fetch(self, client: httpx.Client) -> list[FetchedQuote]:
        wanted = _configured_pairs("RATES_KRAKEN_PAIRS")
        query = ",".join(self._kraken_name(pair) for pair in wanted)
        url = f"{settings.RATES_KRAKEN_URL.rstrip('/')}/0/public/Ticker"
        data = self._get_json(client, url, {"pair": query})
        if not isinstance(data, dict) or not isinstance(data.get("error"), list):
            raise RateSourceError(self.id, "answer has no 'error' list")
        if data["error"]:
            raise RateSourceError(self.id, "API error: " + "; ".join(str(e)[:80] for e in data["error"][:3]))
        result = data.get("result")
        if not isinstance(result, dict) or not result:
            raise RateSourceError(self.id, "answer has no 'result' tickers")
        quotes = []
        for name, ticker in result.items():
            pair = self._our_pair(name)
            if pair is None or pair not in wanted:
                continue
            try:
                bid, ask = ticker["b"][0], ticker["a"][0]
            except (KeyError, IndexError, TypeError):
                raise RateSourceError(self.id, f"ticker {name[:20]!r} has no bid/ask")
            quotes.append(self._quote(pair, bid, ask))
        if not quotes:
            raise RateSourceError(self.id, "answer holds none of the requested pairs")
        return quotes

    @staticmethod
    def _kraken_name(pair: CurrencyPair) -> str:
        if pair.base != "BTC":
            raise ImproperlyConfigured(f"RATES_KRAKEN_PAIRS: only BTC_* pairs are supported, not {pair}")
        return f"XBT{pair.quote}"

    def _our_pair(self, name: str) -> CurrencyPair | None:
        for prefix in self._BTC_PREFIXES:
            if name.startswith(prefix):
                rest = name[len(prefix):]
                quote = self._LEGACY_FIAT.get(rest, rest)
                if re.fullmatch(r"[A-Z]{3,5}", quote):
                    return CurrencyPair("BTC", quote)
        return None


class BitstampSource(HttpRateSource):
    """Bitstamp REST ``GET /api/v2/ticker/{pair}/`` (``btcusd``), one request per pair.

    Answer: ``{"timestamp": "1700000000", "open": ..., "high": ..., "low": ..., "last": ...,
    "volume": ..., "vwap": ..., "bid": "...", "ask": "...", ...}``; prices are strings. A pair that
    fails is logged and skipped, so one delisted pair does not stop the others.
    """

    id = "bitstamp"
    name = "Bitstamp"

    def fetch(self, client: httpx.Client) -> list[FetchedQuote]:
        base_url = settings.RATES_BITSTAMP_URL.rstrip("/")
        quotes, failures = [], []
        for pair in _configured_pairs("RATES_BITSTAMP_PAIRS"):
            url = f"{base_url}/api/v2/ticker/{pair.base.lower()}{pair.quote.lower()}/"
            try:
                data = self._get_json(client, url)
                if not isinstance(data, dict) or "bid" not in data or "ask" not in data:
                    raise RateSourceError(self.id, f"{pair} answer has no bid/ask")
                quotes.append(self._quote(pair, data["bid"], data["ask"]))
            except RateSourceError as exc:
                failures.append(exc.message)
                logger.warning("rate source %s: %s", self.id, exc.message)
        if not quotes:
            raise RateSourceError(self.id, "; ".join(failures) or "no pairs configured")
        return quotes


class CoinGeckoSource(HttpRateSource):
    """CoinGecko ``GET /api/v3/exchange_rates``: BTC against some 50 fiat currencies in one call.

    Answer: ``{"rates": {"btc": {"name": "Bitcoin", "unit": "BTC", "value": 1.0, "type":
    "crypto"}, "usd": {"name": "US Dollar", "unit": "$", "value": 67187.3, "type": "fiat"},
    ...}}``; each value is units per 1 BTC, as a JSON number. Only ``fiat`` entries are kept.
    CoinGecko gives one price, so bid = ask.
    """

    id = "coingecko"
    name = "CoinGecko"

    def fetch(self, client: httpx.Client) -> list[FetchedQuote]:
        url = f"{settings.RATES_COINGECKO_URL.rstrip('/')}/api/v3/exchange_rates"
        data = self._get_json(client, url)
        rates = data.get("rates") if isinstance(data, dict) else None
        if not isinstance(rates, dict):
            raise RateSourceError(self.id, "answer has no 'rates' object")
        btc = rates.get("btc")
        # Every value is relative to BTC; if BTC itself is not 1 the answer is not what we think.
        if not isinstance(btc, dict) or btc.get("value") != Decimal(1):
            raise RateSourceError(self.id, "answer is not relative to BTC (rates.btc.value != 1)")
        quotes = []
        for code, entry in rates.items():
            if not isinstance(entry, dict):
                raise RateSourceError(self.id, f"rate {str(code)[:20]!r} is not an object")
            if entry.get("type") != "fiat":
                continue
            if not re.fullmatch(r"[a-z]{3}", str(code)):
                continue
            pair = CurrencyPair("BTC", code.upper())
            quotes.append(self._quote(pair, entry.get("value"), entry.get("value")))
        if not quotes:
            raise RateSourceError(self.id, "answer holds no fiat rate")
        return quotes


FIXED_SOURCE = RateSourceInfo(id="fixed", name="Fixed rates set by the operator (RATES_FIXED)")

HTTP_SOURCES: dict[str, HttpRateSource] = {
    source.id: source for source in (KrakenSource(), BitstampSource(), CoinGeckoSource())
}


def source_infos() -> list[RateSourceInfo]:
    """Every source this build knows, enabled or not."""
    return [FIXED_SOURCE] + [RateSourceInfo(s.id, s.name) for s in HTTP_SOURCES.values()]


def enabled_source_ids() -> list[str]:
    """``RATES_SOURCES`` in order of preference; an unknown id is a configuration error."""
    known = {info.id for info in source_infos()}
    ids = [str(s).strip().lower() for s in settings.RATES_SOURCES if str(s).strip()]
    unknown = [s for s in ids if s not in known]
    if unknown:
        raise ImproperlyConfigured(f"RATES_SOURCES: unknown rate source(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return list(dict.fromkeys(ids))


def fixed_rates() -> dict[CurrencyPair, Decimal]:
    """The operator's fixed rates from ``RATES_FIXED`` (``USD_JMD=157.5,EUR_JMD=171``)."""
    rates: dict[CurrencyPair, Decimal] = {}
    entries: Iterable[tuple[str, object]] = dict(settings.RATES_FIXED).items()
    for pair_text, value in entries:
        try:
            pair = CurrencyPair.parse(pair_text)
            rate = Decimal(str(value).strip())
        except Exception:
            raise ImproperlyConfigured(f"RATES_FIXED: cannot read {pair_text}={value}; expected PAIR=decimal like USD_JMD=157.5")
        if not rate.is_finite() or rate <= 0:
            raise ImproperlyConfigured(f"RATES_FIXED: {pair_text} must be a positive number, got {value}")
        rates[pair] = rate
    return rates
