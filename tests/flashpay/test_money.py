from decimal import ROUND_DOWN, ROUND_UP, Decimal

import pytest

from flashpay.money import Msat


def test_refuses_floats_everywhere():
    with pytest.raises(TypeError):
        Msat(1.0)
    with pytest.raises(TypeError):
        Msat.from_btc(0.1)
    with pytest.raises(TypeError):
        Msat.from_fiat(Decimal("1"), rate=50000.0)
    with pytest.raises(TypeError):
        Msat(1000) * 1.5
    with pytest.raises(TypeError):
        Msat(1000) + 1


def test_formats_btc_and_sats():
    amount = Msat.from_sat(12_000)
    assert amount.format_btc() == "0.00012000"
    assert amount.format_sats() == "12,000 sats"
    assert Msat(1500).format_sats() == "1.5 sats"
    assert Msat.from_btc("0.00012").value == 12_000_000


def test_fiat_round_trip_with_explicit_rounding():
    rate = Decimal("97000.00")  # USD per BTC
    amount = Msat.from_fiat(Decimal("10.00"), rate=rate)
    assert amount.value == 10_309_278  # 10 / 97000 BTC, half-even to the msat
    assert amount.to_fiat(rate=rate) == Decimal("10.00")
    assert Msat.from_fiat(Decimal("10.00"), rate=rate, rounding=ROUND_UP).value == 10_309_279
    assert Msat(1999).to_sat(rounding=ROUND_DOWN) == 1
    with pytest.raises(ValueError):
        Msat.from_fiat(Decimal("1"), rate=Decimal("0"))


def test_arithmetic_and_ordering():
    assert Msat(5) + Msat(7) == Msat(12)
    assert sum([Msat(1), Msat(2)]) == Msat(3)
    assert Msat(3) * 2 == Msat(6)
    assert Msat(1) < Msat(2)
    assert -Msat(4) == Msat(-4)
