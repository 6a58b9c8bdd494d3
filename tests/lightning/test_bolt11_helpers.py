"""BOLT11 helpers: decoding with signature check, network, expiry and amount rules (BOLT #11)."""
import time

import bolt11
import pytest
from bolt11.models.tags import TagChar, Tags
from coincurve import PrivateKey

from lightning.bolt11_helpers import (
    bolt11_normalise,
    bolt11_payment_hash_unchecked,
    decode_bolt11,
    require_amount,
)
from lightning.errors import InvalidPaymentRequest

KEY = PrivateKey()


def make(*, currency="bcrt", amount_msat=25_000, expiry=600, date=None, description="pizza"):
    tags = Tags()
    tags.add(TagChar.payment_hash, "ab" * 32)
    tags.add(TagChar.payment_secret, "cd" * 32)
    tags.add(TagChar.description, description)
    tags.add(TagChar.expire_time, expiry)
    invoice = bolt11.Bolt11(
        currency=currency, date=date or int(time.time()), tags=tags,
        amount_msat=bolt11.MilliSatoshi(amount_msat) if amount_msat else None,
    )
    return bolt11.encode(invoice, private_key=KEY.secret.hex())


def test_decode_reads_every_field_and_the_signer():
    text = make()

    decoded = decode_bolt11("lightning:" + text.upper(), network="regtest")

    assert decoded.bolt11 == text
    assert decoded.network == "regtest"
    assert decoded.payment_hash == "ab" * 32
    assert decoded.payment_secret == "cd" * 32
    assert decoded.amount_msat == 25_000
    assert decoded.description == "pizza"
    assert decoded.payee == KEY.public_key.format(compressed=True).hex()
    assert decoded.expires_at == decoded.timestamp + 600
    assert not decoded.is_expired()


def test_other_networks_are_refused_when_a_network_is_required():
    for currency, network in (("bc", "mainnet"), ("tb", "testnet"), ("tbs", "signet")):
        assert decode_bolt11(make(currency=currency)).network == network
        with pytest.raises(InvalidPaymentRequest, match=f"for {network}"):
            decode_bolt11(make(currency=currency), network="regtest")


def test_expiry():
    old = decode_bolt11(make(expiry=60, date=int(time.time()) - 61))

    assert old.is_expired()
    assert not old.is_expired(now=old.timestamp + 59)


@pytest.mark.parametrize("text", ["", "   ", "lnbcrt1", "hello", "lnbcrt10u1qqqqqq", 42, None])
def test_garbage_is_a_clear_bad_input_error(text):
    with pytest.raises(InvalidPaymentRequest) as error:
        decode_bolt11(text)
    assert error.value.status_code == 400


def test_amount_changed_under_the_old_signature_points_to_another_signer():
    original = bolt11.decode(make())
    original.amount_msat = bolt11.MilliSatoshi(1)
    forged = bolt11.encode(original)  # same signature, other signed data

    # Without an `n` field the signer is recovered from the signature (BOLT #11): the forged
    # invoice names a node nobody has the key of, so no payment can reach it.
    assert decode_bolt11(forged).payee != KEY.public_key.format(compressed=True).hex()


def test_tampered_invoice_is_refused():
    text = make()
    # One changed data character: the bech32 checksum catches it (BIP 173).
    index = len("lnbcrt250n1") + 10
    tampered = text[:index] + ("q" if text[index] != "q" else "p") + text[index + 1:]

    with pytest.raises(InvalidPaymentRequest):
        decode_bolt11(tampered)


def test_require_amount():
    fixed = decode_bolt11(make(amount_msat=25_000))
    open_amount = decode_bolt11(make(amount_msat=None))

    assert require_amount(fixed) == 25_000
    assert require_amount(fixed, 25_000) == 25_000
    assert require_amount(open_amount, 7_000) == 7_000
    with pytest.raises(InvalidPaymentRequest, match="differs"):
        require_amount(fixed, 26_000)
    with pytest.raises(InvalidPaymentRequest, match="no amount"):
        require_amount(open_amount)
    with pytest.raises(InvalidPaymentRequest):
        require_amount(open_amount, 0)


def test_the_payment_hash_is_read_without_decoding():
    text = make()
    assert bolt11_payment_hash_unchecked(bolt11_normalise(text)) == decode_bolt11(text).payment_hash == "ab" * 32
    # as a wallet may present it: upper case (QR) with the URI prefix
    assert bolt11_normalise(f"  LIGHTNING:{text.upper()} ") == text


@pytest.mark.parametrize("text", ["", "lnbcrt", "1" * 20, "lnbcrt1bbbbbb", "lnbcrt1" + "q" * 200, "lnbcrt1ob" + "q" * 120])
def test_no_payment_hash_is_read_from_junk(text):
    assert bolt11_payment_hash_unchecked(text) is None

