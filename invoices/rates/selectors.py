"""Rate reads: a pair's rate from the cached quotes, with cross rates and the store spread.

How a pair is resolved, in the spirit of BTCPay's default rate rules:

1. the pair itself from the sources in order of preference (``RATES_SOURCES``, or a store's own
   ``source_preference``), then its inverse (``1 / USD_BTC``);
2. otherwise a cross rate through each currency of ``RATES_CROSS_VIA`` in turn (USD, EUR, BTC):
   ``BTC_JMD = BTC_USD * USD_JMD``, each leg found as in step 1. JMD is on no exchange's BTC
   book, so its leg comes from the fixed rates or CoinGecko;
3. the spread is applied last, to the result: bid * (1 - spread%), ask * (1 + spread%), as
   BTCPay's ``RateRules`` does.

Only quotes younger than ``RATES_VALID_SECONDS`` (10 minutes) are used; a cross rate is as old as
its oldest leg. Bid/ask arithmetic follows BTCPay's ``BidAsk``: a product multiplies bids with
bids and asks with asks; an inverse is ``(1 / ask, 1 / bid)``. Everything is Decimal.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from flashpay.errors import ApplicationError

from .cache import quotes_load
from .errors import InvalidCurrencyPair, RateUnavailable
from .sources import RateSourceInfo, enabled_source_ids, fixed_rates, source_infos
from .types import CurrencyPair, Quote, Rate

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class _BidAsk:
    bid: Decimal
    ask: Decimal
    fetched_at: datetime
    rule: str

    def inverse(self) -> _BidAsk:
        return _BidAsk(Decimal(1) / self.ask, Decimal(1) / self.bid, self.fetched_at, f"1 / {self.rule}")

    def __mul__(self, other: _BidAsk) -> _BidAsk:
        return _BidAsk(
            self.bid * other.bid,
            self.ask * other.ask,
            min(self.fetched_at, other.fetched_at),
            f"{self.rule} * {other.rule}",
        )


@dataclass(frozen=True, slots=True)
class RateResult:
    """One pair of a multi-pair read, shaped for Greenfield's ``StoreRateResult``."""

    pair: str
    rate: Rate | None
    errors: list[str] = field(default_factory=list)


class _Resolver:
    """Resolves pairs against one snapshot of the cache, read with a single ``get_many``."""

    def __init__(self, *, pairs: Sequence[CurrencyPair], sources: list[str], now: datetime):
        self.sources = sources
        self.now = now
        self.oldest_allowed = now - timedelta(seconds=settings.RATES_VALID_SECONDS)
        self.vias = [str(c).strip().upper() for c in settings.RATES_CROSS_VIA if str(c).strip()]
        self.quotes: dict[tuple[str, CurrencyPair], Quote] = {}
        if "fixed" in sources:
            for pair, rate in fixed_rates().items():
                self.quotes[("fixed", pair)] = Quote(pair, rate, rate, now, "fixed")
        http_sources = [s for s in sources if s != "fixed"]
        wanted = {(s, leg) for s in http_sources for p in pairs for leg in self._legs(p)}
        self.quotes.update(quotes_load(wanted))
        self.newest_stale: Quote | None = None

    def _legs(self, pair: CurrencyPair) -> set[CurrencyPair]:
        legs = {pair, pair.inverse()}
        for via in self.vias:
            if via not in (pair.base, pair.quote):
                for leg in (CurrencyPair(pair.base, via), CurrencyPair(via, pair.quote)):
                    legs.update((leg, leg.inverse()))
        return legs

    def _fresh(self, source: str, pair: CurrencyPair) -> Quote | None:
        quote = self.quotes.get((source, pair))
        if quote is None:
            return None
        if quote.fetched_at < self.oldest_allowed:
            if self.newest_stale is None or quote.fetched_at > self.newest_stale.fetched_at:
                self.newest_stale = quote
            return None
        return quote

    def leg(self, pair: CurrencyPair) -> _BidAsk | None:
        for source in self.sources:
            quote = self._fresh(source, pair)
            if quote is not None:
                return _BidAsk(quote.bid, quote.ask, quote.fetched_at, f"{source}({pair})")
        for source in self.sources:
            quote = self._fresh(source, pair.inverse())
            if quote is not None:
                return _BidAsk(quote.bid, quote.ask, quote.fetched_at, f"{source}({quote.pair})").inverse()
        return None

    def resolve(self, pair: CurrencyPair) -> _BidAsk:
        if pair.base == pair.quote:
            return _BidAsk(Decimal(1), Decimal(1), self.now, "1")
        self.newest_stale = None
        direct = self.leg(pair)
        if direct is not None:
            return direct
        for via in self.vias:
            if via in (pair.base, pair.quote):
                continue
            first = self.leg(CurrencyPair(pair.base, via))
            second = self.leg(CurrencyPair(via, pair.quote))
            if first is not None and second is not None:
                return first * second
        raise RateUnavailable(self._unavailable_message(pair))

    def _unavailable_message(self, pair: CurrencyPair) -> str:
        message = f"No exchange rate is available for {pair}"
        stale = self.newest_stale
        if stale is not None:
            minutes = int((self.now - stale.fetched_at).total_seconds() // 60)
            valid = settings.RATES_VALID_SECONDS // 60
            message += (
                f": the newest one found ({stale.source}({stale.pair})) is {minutes} minutes old, "
                f"and rates are valid for {valid} minutes"
            )
        return message + "."


def _spread_fraction(spread_percent: Decimal | int | str) -> Decimal:
    if isinstance(spread_percent, float):
        raise TypeError("spread_percent must be Decimal, int or str, not float")
    try:
        spread = Decimal(spread_percent)
    except Exception:
        spread = Decimal("NaN")
    # BTCPay accepts 0..100; 100 would make the bid zero and no invoice could be priced.
    if not spread.is_finite() or spread < 0 or spread >= HUNDRED:
        raise ApplicationError(
            f"Invalid spread {str(spread_percent)[:20]}: it must be a percentage from 0 up to (not including) 100.",
            code="invalid-spread",
            status_code=422,
        )
    return spread / HUNDRED


def _sources(source_preference: Sequence[str] | None) -> list[str]:
    enabled = enabled_source_ids()
    if source_preference is None:
        return enabled
    preferred = [str(s).strip().lower() for s in source_preference]
    not_enabled = [s for s in preferred if s not in enabled]
    if not_enabled:
        raise ApplicationError(
            f"Rate source {', '.join(not_enabled)} is not available; available: {', '.join(enabled)}.",
            code="invalid-rate-source",
            status_code=422,
        )
    # The store's choices first, then the rest, so a pair its source lacks can still be priced.
    return list(dict.fromkeys(preferred + enabled))


def _rate(pair: CurrencyPair, bid_ask: _BidAsk, spread: Decimal) -> Rate:
    bid, ask = bid_ask.bid, bid_ask.ask
    if spread:
        bid, ask = bid * (1 - spread), ask * (1 + spread)
    return Rate(pair=str(pair), bid=bid, ask=ask, fetched_at=bid_ask.fetched_at, source=bid_ask.rule)


def rate_get(
    *,
    pair: str,
    spread_percent: Decimal | int | str = Decimal(0),
    source_preference: Sequence[str] | None = None,
    now: datetime | None = None,
) -> Rate:
    """The rate for ``pair`` ("BTC_USD"), with the store's spread applied.

    Raises ``RateUnavailable`` (422, code ``rate-unavailable``, the message names the pair) when no
    fresh rate exists, ``InvalidCurrencyPair`` for a malformed pair. An invoice locks ``.value``
    (the bid), see ``Rate``.
    """
    currency_pair = CurrencyPair.parse(pair)
    spread = _spread_fraction(spread_percent)
    now = now or timezone.now()
    resolver = _Resolver(pairs=[currency_pair], sources=_sources(source_preference), now=now)
    return _rate(currency_pair, resolver.resolve(currency_pair), spread)


def rates_get(
    *,
    pairs: Sequence[str],
    spread_percent: Decimal | int | str = Decimal(0),
    source_preference: Sequence[str] | None = None,
    now: datetime | None = None,
) -> list[RateResult]:
    """Several pairs at once, each with its rate or its errors (``GET /stores/{id}/rates``)."""
    spread = _spread_fraction(spread_percent)
    now = now or timezone.now()
    parsed: list[tuple[str, CurrencyPair | None, str | None]] = []
    for text in pairs:
        try:
            parsed.append((str(text), CurrencyPair.parse(text), None))
        except InvalidCurrencyPair as exc:
            parsed.append((str(text), None, exc.message))
    resolver = _Resolver(pairs=[p for _, p, _ in parsed if p is not None], sources=_sources(source_preference), now=now)
    results = []
    for text, currency_pair, error in parsed:
        if currency_pair is None:
            results.append(RateResult(pair=text, rate=None, errors=[error or "invalid pair"]))
            continue
        try:
            results.append(RateResult(pair=str(currency_pair), rate=_rate(currency_pair, resolver.resolve(currency_pair), spread)))
        except RateUnavailable as exc:
            results.append(RateResult(pair=str(currency_pair), rate=None, errors=[exc.message]))
    return results


def rate_sources_list() -> list[RateSourceInfo]:
    """Every rate source (``GET /misc/rate-sources`` answers ``[{id, name}]``), enabled first."""
    enabled = enabled_source_ids()
    infos = source_infos()
    return sorted(infos, key=lambda info: enabled.index(info.id) if info.id in enabled else len(enabled))


def store_rate_sources(*, preferred: str = "", fallback: str | None = None) -> list[str]:
    """A store's source preference: its primary and fallback sources first, then the server's
    order. A source the operator has since disabled is skipped rather than failing every invoice."""
    enabled = enabled_source_ids()
    chosen = [s for s in (preferred, fallback or "") if s and s in enabled]
    return list(dict.fromkeys(chosen + enabled))


def store_rate_get(*, store, pair: str) -> Rate:
    """``rate_get`` with the store's rate configuration (spread, preferred and fallback sources)."""
    return rate_get(
        pair=pair,
        spread_percent=store.rate_spread,
        source_preference=store_rate_sources(preferred=store.rate_preferred_source, fallback=store.rate_fallback_source),
    )
