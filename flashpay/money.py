"""The money type: an integer amount of millisatoshis that refuses floats."""
from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from functools import total_ordering

MSAT_PER_SAT = 1000
SAT_PER_BTC = 100_000_000
MSAT_PER_BTC = MSAT_PER_SAT * SAT_PER_BTC


@total_ordering
class Msat:
    """An amount of bitcoin in integer millisatoshis.

    Floats are refused everywhere: ``Msat(0.1)`` raises ``TypeError``. Conversions to and from
    fiat take a ``Decimal`` rate (fiat units per BTC) and an explicit rounding mode.
    """

    __slots__ = ("value",)

    def __init__(self, value: int | Msat):
        if isinstance(value, Msat):
            value = value.value
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"Msat needs an int, got {type(value).__name__}")
        self.value = value

    # constructors
    @classmethod
    def from_sat(cls, sats: int) -> Msat:
        if isinstance(sats, bool) or not isinstance(sats, int):
            raise TypeError(f"sats must be an int, got {type(sats).__name__}")
        return cls(sats * MSAT_PER_SAT)

    @classmethod
    def from_btc(cls, btc: Decimal | str, *, rounding: str = ROUND_HALF_EVEN) -> Msat:
        """From a BTC amount given as a Decimal or a decimal string, rounded to whole msat."""
        if isinstance(btc, float):
            raise TypeError("BTC amounts must be Decimal or str, not float")
        msat = (Decimal(btc) * MSAT_PER_BTC).quantize(Decimal(1), rounding=rounding)
        return cls(int(msat))

    @classmethod
    def from_fiat(cls, amount: Decimal, *, rate: Decimal, rounding: str = ROUND_HALF_EVEN) -> Msat:
        """Fiat ``amount`` at ``rate`` (fiat per BTC), rounded to whole msat."""
        if isinstance(amount, float) or isinstance(rate, float):
            raise TypeError("fiat amounts and rates must be Decimal, not float")
        rate = Decimal(rate)
        if rate <= 0:
            raise ValueError("rate must be positive")
        msat = (Decimal(amount) * MSAT_PER_BTC / rate).quantize(Decimal(1), rounding=rounding)
        return cls(int(msat))

    # conversions
    @property
    def sats(self) -> int:
        """Whole satoshis, rounded down (what can actually move on-chain)."""
        return self.value // MSAT_PER_SAT

    def to_sat(self, *, rounding: str = ROUND_HALF_EVEN) -> int:
        return int((Decimal(self.value) / MSAT_PER_SAT).quantize(Decimal(1), rounding=rounding))

    @property
    def btc(self) -> Decimal:
        return Decimal(self.value) / MSAT_PER_BTC

    def to_fiat(
        self, *, rate: Decimal, places: int = 2, rounding: str = ROUND_HALF_EVEN
    ) -> Decimal:
        if isinstance(rate, float):
            raise TypeError("rates must be Decimal, not float")
        exponent = Decimal(1).scaleb(-places)
        return (self.btc * Decimal(rate)).quantize(exponent, rounding=rounding)

    def format_btc(self) -> str:
        """BTC with 8 decimals (whole sats), as Greenfield shows amounts: ``"0.00012000"``."""
        return f"{Decimal(self.value // MSAT_PER_SAT) / SAT_PER_BTC:.8f}"

    def format_sats(self) -> str:
        sats, rest = divmod(self.value, MSAT_PER_SAT)
        text = f"{sats:,}"
        if rest:
            text += f".{rest:03d}".rstrip("0")
        return f"{text} sats"

    # arithmetic
    def _other(self, other) -> int:
        if isinstance(other, Msat):
            return other.value
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return 0  # lets sum() start from 0
        raise TypeError(f"cannot combine Msat with {type(other).__name__}")

    def __add__(self, other) -> Msat:
        return Msat(self.value + self._other(other))

    __radd__ = __add__

    def __sub__(self, other) -> Msat:
        return Msat(self.value - self._other(other))

    def __rsub__(self, other) -> Msat:
        return Msat(self._other(other) - self.value)

    def __mul__(self, factor: int) -> Msat:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError("Msat can only be multiplied by an int")
        return Msat(self.value * factor)

    __rmul__ = __mul__

    def __neg__(self) -> Msat:
        return Msat(-self.value)

    def __abs__(self) -> Msat:
        return Msat(abs(self.value))

    def __eq__(self, other) -> bool:
        return isinstance(other, Msat) and other.value == self.value

    def __lt__(self, other) -> bool:
        if not isinstance(other, Msat):
            return NotImplemented
        return self.value < other.value

    def __hash__(self) -> int:
        return hash(("Msat", self.value))

    def __bool__(self) -> bool:
        return self.value != 0

    def __int__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return f"Msat({self.value})"

    def __str__(self) -> str:
        return self.format_sats()
