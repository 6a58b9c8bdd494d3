"""Value types of the rates package: currency pairs and bid/ask rates, all Decimal."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from .errors import InvalidCurrencyPair

# ISO 4217 codes are three letters; crypto tickers and BTCPay's pseudo-currencies (SATS, USDT)
# are longer, so accept 2 to 10 letters or digits, the way BTCPay's CurrencyPair does.
_CODE = r"[A-Z0-9]{2,10}"
_PAIR = re.compile(rf"^({_CODE})_({_CODE})$")


@dataclass(frozen=True, slots=True)
class CurrencyPair:
    """``BTC_USD``: how many units of ``quote`` one unit of ``base`` is worth."""

    base: str
    quote: str

    @classmethod
    def parse(cls, text: str) -> CurrencyPair:
        """Parse ``"BTC_USD"`` (case-insensitive); anything else raises ``InvalidCurrencyPair``."""
        if not isinstance(text, str):
            raise InvalidCurrencyPair(f"Invalid currency pair {text!r}: expected a string like BTC_USD")
        match = _PAIR.match(text.strip().upper())
        if match is None:
            raise InvalidCurrencyPair(
                f"Invalid currency pair {text[:40]!r}: expected two currency codes joined by "
                "an underscore, like BTC_USD"
            )
        return cls(match.group(1), match.group(2))

    def inverse(self) -> CurrencyPair:
        return CurrencyPair(self.quote, self.base)

    def __str__(self) -> str:
        return f"{self.base}_{self.quote}"


@dataclass(frozen=True, slots=True)
class Quote:
    """A bid/ask for one pair from one source (its id) at one time: what the cache holds."""

    pair: CurrencyPair
    bid: Decimal
    ask: Decimal
    fetched_at: datetime
    source: str


@dataclass(frozen=True, slots=True)
class Rate:
    """The rate a caller gets for a pair, after cross rates and the store spread.

    ``value`` is the bid, the rate an invoice locks at creation. BTCPay does the same (the
    payment prompt's rate is the rule's ``BidAsk.Bid``, and Greenfield's ``StoreRateResult.rate``
    is the bid): the merchant receives BTC, and the bid is what the market pays for it now. The
    spread lowers the bid, so the customer pays a little more BTC, which covers the merchant's
    conversion risk during the invoice's life.
    """

    pair: str
    bid: Decimal
    ask: Decimal
    fetched_at: datetime
    # How the rate was made, BTCPay rule style: "kraken(BTC_USD) * fixed(USD_JMD)".
    source: str

    @property
    def value(self) -> Decimal:
        return self.bid
