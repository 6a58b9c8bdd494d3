"""The devnode's BOLT11 encoder: signed regtest payment requests, minted without bitstring.

The devnode mints one payment request per AddInvoice and, during benchmarks, shares the CPU with
everything it serves; the ``bolt11`` package builds requests bit by bit (``bitstring``) at ~4 ms
each, this at ~0.2 ms. Decoding stays with ``bolt11`` (``lightning.bolt11_helpers``), which the
tests use to check what this writes. References are to BOLT #11.
"""
from __future__ import annotations

import hashlib

from coincurve import PrivateKey

# BOLT #11 "Tagged Fields": the 5-bit type of each field we write.
_PAYMENT_HASH = 1  # p
_PAYMENT_SECRET = 16  # s
_DESCRIPTION = 13  # d
_DESCRIPTION_HASH = 23  # h
_EXPIRY = 6  # x
_MIN_FINAL_CLTV_EXPIRY = 24  # c
_FEATURES = 5  # 9

# BOLT #9 feature bits: var_onion_optin required (8), payment_secret required (14),
# basic_mpp optional (17), as LND sets them on its invoices.
DEFAULT_FEATURES = (1 << 8) | (1 << 14) | (1 << 17)

# BIP-173 bech32: the checksum's generator, applied by table for the five bits shifted out at
# each step (the reference loop tests them one by one: a quarter of the devnode's CPU per invoice).
_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_STEP = [0] * 32
for _top in range(32):
    for _bit, _gen in enumerate(_GENERATOR):
        if _top >> _bit & 1:
            _STEP[_top] ^= _gen


def _bech32(hrp: str, words: list[int]) -> str:
    """BIP-173 bech32 (constant 1, as BOLT #11 uses) of the 5-bit ``words`` under ``hrp``."""
    check = 1
    for value in [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + words + [0] * 6:
        check = ((check & 0x1FFFFFF) << 5) ^ value ^ _STEP[check >> 25]
    check ^= 1
    checksum = [(check >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[w] for w in words + checksum)


# BOLT #11 "Human-readable part": amount multipliers, largest first, as msat per unit.
_MULTIPLIERS = (("", 100_000_000_000), ("m", 100_000_000), ("u", 100_000), ("n", 100))


def _amount(amount_msat: int) -> str:
    """The shortest amount for the human-readable part (pico-bitcoin is a tenth of a msat)."""
    for suffix, unit in _MULTIPLIERS:
        if amount_msat % unit == 0:
            return f"{amount_msat // unit}{suffix}"
    return f"{amount_msat * 10}p"


def _int_words(value: int, *, length: int | None = None) -> list[int]:
    """Big-endian 5-bit words of ``value``: minimal (no leading zero word) unless ``length``."""
    words = []
    while value:
        words.append(value & 31)
        value >>= 5
    if length is not None:
        words += [0] * (length - len(words))
    return words[::-1]


def _byte_words(data: bytes) -> list[int]:
    """``data`` as 5-bit words, zero bits appended to fill the last word."""
    bits = len(data) * 8
    pad = -bits % 5
    return _int_words(int.from_bytes(data, "big") << pad, length=(bits + pad) // 5)


def _field(kind: int, words: list[int]) -> list[int]:
    # type (5 bits), data_length in words (10 bits), data
    return [kind, len(words) >> 5, len(words) & 31, *words]


def encode_invoice(
    *,
    private_key: PrivateKey,
    currency: str,
    timestamp: int,
    payment_hash: bytes,
    payment_secret: bytes,
    amount_msat: int | None,
    description: str | None = None,
    description_hash: bytes | None = None,
    expiry: int,
    min_final_cltv_expiry: int,
    features: int = DEFAULT_FEATURES,
) -> str:
    """A payment request signed by ``private_key`` (BOLT #11 "Requirements", writer side)."""
    if len(payment_hash) != 32 or len(payment_secret) != 32:
        raise ValueError("payment hash and payment secret are 32 bytes")
    if (description is None) == (description_hash is None):
        raise ValueError("give exactly one of description and description_hash")
    if description_hash is not None and len(description_hash) != 32:
        raise ValueError("a description hash is 32 bytes")
    if amount_msat is not None and amount_msat <= 0:
        raise ValueError("amount_msat must be positive (or None for any amount)")
    if not 0 <= timestamp < 2**35:
        raise ValueError("timestamp does not fit 35 bits")
    hrp = f"ln{currency}{_amount(amount_msat) if amount_msat else ''}"
    words = _int_words(timestamp, length=7)
    words += _field(_PAYMENT_HASH, _byte_words(payment_hash))
    words += _field(_PAYMENT_SECRET, _byte_words(payment_secret))
    if description_hash is not None:
        words += _field(_DESCRIPTION_HASH, _byte_words(description_hash))
    else:
        words += _field(_DESCRIPTION, _byte_words(description.encode()))
    words += _field(_EXPIRY, _int_words(expiry))
    words += _field(_MIN_FINAL_CLTV_EXPIRY, _int_words(min_final_cltv_expiry))
    words += _field(_FEATURES, _int_words(features))
    # "signature": over SHA-256 of the human-readable part as UTF-8 followed by the data part
    # (fields, not the signature) as bytes, zero-padded to a byte boundary; 64 bytes of compact
    # signature then the recovery id, which is exactly coincurve's recoverable layout.
    pad = -len(words) * 5 % 8
    data = 0
    for word in words:
        data = (data << 5) | word
    message = hrp.encode() + (data << pad).to_bytes((len(words) * 5 + pad) // 8, "big")
    signature = private_key.sign_recoverable(message, hasher=lambda m: hashlib.sha256(m).digest())
    return _bech32(hrp, words + _byte_words(signature))
