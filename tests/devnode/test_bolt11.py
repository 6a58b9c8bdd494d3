"""The devnode's BOLT11 encoder, checked by an independent decoder (the ``bolt11`` package)."""
import hashlib

import bolt11
import pytest
from coincurve import PrivateKey

from devnode.bolt11 import encode_invoice
from lightning.bolt11_helpers import decode_bolt11
from lightning.errors import InvalidPaymentRequest

KEY = PrivateKey(b"\x01" * 32)
HASH = hashlib.sha256(b"preimage").digest()
SECRET = b"\x02" * 32


def mint(**overrides):
    kwargs = {
        "private_key": KEY,
        "currency": "bcrt",
        "timestamp": 1_764_000_000,
        "payment_hash": HASH,
        "payment_secret": SECRET,
        "amount_msat": 20_000_000,
        "description": "Paid to Bench store (Order ID: 42)",
        "expiry": 900,
        "min_final_cltv_expiry": 18,
    }
    kwargs.update(overrides)
    return encode_invoice(**kwargs)


@pytest.mark.parametrize(
    ("amount_msat", "prefix"),
    [
        (None, "lnbcrt1"),
        (1, "lnbcrt10p1"),
        (1_000, "lnbcrt10n1"),
        (150_000, "lnbcrt1500n1"),
        (20_000_000, "lnbcrt200u1"),
        (100_000_000, "lnbcrt1m1"),
        (100_000_000_000, "lnbcrt11"),
        (123_456_789, "lnbcrt1234567890p1"),
    ],
)
def test_amount_is_written_in_the_shortest_unit_and_decodes_back(amount_msat, prefix):
    request = mint(amount_msat=amount_msat)

    assert request.startswith(prefix)
    assert decode_bolt11(request, network="regtest").amount_msat == amount_msat


def test_every_field_decodes_back_and_the_signature_recovers_the_node_key():
    request = mint(description="Café ☕ order")

    decoded = bolt11.decode(request)
    assert decoded.payee == KEY.public_key.format().hex()
    assert decoded.payment_hash == HASH.hex()
    assert decoded.payment_secret == SECRET.hex()
    assert decoded.date == 1_764_000_000
    assert decoded.expiry == 900
    assert decoded.min_final_cltv_expiry == 18
    assert decoded.description == "Café ☕ order"
    assert decoded.description_hash is None
    assert {f.name: s.name for f, s in decoded.features.feature_list.items()} == {
        "var_onion_optin": "required",
        "payment_secret": "required",
        "basic_mpp": "supported",
    }


def test_a_description_hash_replaces_the_description():
    digest = hashlib.sha256(b'[["text/plain","lnurl-pay"]]').digest()

    decoded = bolt11.decode(mint(description=None, description_hash=digest))

    assert decoded.description_hash == digest.hex()
    assert decoded.description is None


def test_a_changed_character_breaks_the_request():
    request = mint()
    tampered = request[:40] + ("q" if request[40] != "q" else "p") + request[41:]

    # bech32's checksum catches any one changed character (BIP173)
    with pytest.raises(InvalidPaymentRequest):
        decode_bolt11(tampered)


@pytest.mark.parametrize(
    "overrides",
    [
        {"payment_hash": b"\x00" * 31},
        {"description": None},
        {"description_hash": b"\x00" * 32},
        {"amount_msat": 0},
        {"timestamp": 2**35},
    ],
)
def test_malformed_input_is_refused(overrides):
    with pytest.raises(ValueError):
        mint(**overrides)
