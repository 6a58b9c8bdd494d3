"""BOLT11 payment requests: decode, check the network, expiry and amount; read the payment hash
without checking anything, to find one of our own invoices cheaply (BOLT #11)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import bolt11 as bolt11_lib
from bolt11.exceptions import Bolt11Exception

from lightning.errors import InvalidPaymentRequest

# BOLT #11 "Human-readable part": the currency prefix per network.
NETWORK_PREFIXES = {"mainnet": "bc", "testnet": "tb", "signet": "tbs", "regtest": "bcrt"}
# BOLT #11 `x` field: default expiry when the tag is absent.
DEFAULT_EXPIRY_SECONDS = 3600


@dataclass(frozen=True)
class DecodedPaymentRequest:
    bolt11: str
    network: str
    payment_hash: str
    amount_msat: int | None
    payee: str
    timestamp: int
    expiry: int
    description: str | None
    description_hash: str | None
    payment_secret: str | None
    min_final_cltv_expiry: int

    @property
    def expires_at(self) -> int:
        return self.timestamp + self.expiry

    def is_expired(self, *, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at


def network_of_prefix(currency: str) -> str:
    for network, prefix in NETWORK_PREFIXES.items():
        if prefix == currency:
            return network
    raise InvalidPaymentRequest(f"unknown BOLT11 currency prefix {currency!r}")


def decode_bolt11(payment_request: str, *, network: str | None = None) -> DecodedPaymentRequest:
    """Decode and verify the signature of a BOLT11 string; with `network`, refuse other networks."""
    if not isinstance(payment_request, str) or not payment_request.strip():
        raise InvalidPaymentRequest("payment request is empty")
    text = payment_request.strip()
    if text.lower().startswith("lightning:"):
        text = text[len("lightning:"):]
    try:
        decoded = bolt11_lib.decode(text)
    except (Bolt11Exception, ValueError, TypeError, KeyError, IndexError) as exc:
        raise InvalidPaymentRequest(f"invalid BOLT11 payment request: {exc.__class__.__name__}")
    except Exception as exc:  # the decoder leaks bitstring/bech32 errors on garbage input
        raise InvalidPaymentRequest(f"invalid BOLT11 payment request: {exc.__class__.__name__}")
    invoice_network = network_of_prefix(decoded.currency)
    if network is not None and invoice_network != network:
        raise InvalidPaymentRequest(
            f"payment request is for {invoice_network}, this node is on {network}"
        )
    amount = int(decoded.amount_msat) if decoded.amount_msat else None
    return DecodedPaymentRequest(
        bolt11=text.lower(),
        network=invoice_network,
        payment_hash=decoded.payment_hash,
        amount_msat=amount,
        payee=decoded.payee,
        timestamp=decoded.date,
        expiry=decoded.expiry,
        description=decoded.description,
        description_hash=decoded.description_hash,
        payment_secret=decoded.payment_secret,
        min_final_cltv_expiry=decoded.min_final_cltv_expiry,
    )


def require_amount(decoded: DecodedPaymentRequest, amount_msat: int | None = None) -> int:
    """The amount to pay: the invoice's own, or `amount_msat` for an any-amount invoice."""
    if decoded.amount_msat is not None:
        if amount_msat is not None and amount_msat != decoded.amount_msat:
            raise InvalidPaymentRequest("amount differs from the amount in the payment request")
        return decoded.amount_msat
    if amount_msat is None or amount_msat <= 0:
        raise InvalidPaymentRequest("payment request has no amount: an amount must be given")
    return amount_msat


# bech32's 32 characters and the 5-bit value each stands for (BIP-173).
_BECH32 = {char: value for value, char in enumerate("qpzry9x8gf2tvdw0s3jn54khce6mua7l")}


def bolt11_normalise(payment_request: str) -> str:
    """The BOLT11 string as our node writes it: lower case, no ``lightning:`` prefix."""
    text = payment_request.strip().lower()
    return text[len("lightning:"):] if text.startswith("lightning:") else text


def bolt11_payment_hash_unchecked(text: str) -> str | None:
    """The ``p`` field of a normalised BOLT11 string, read without checking anything (BOLT #11
    "Data Part": 35-bit timestamp, tagged fields of type(5 bits) + data_length(10 bits) + data,
    then a 520-bit signature; ``p`` is type 1 with 52 words = 256 bits + 4 padding bits); None
    when there is none to read.

    Only for finding one of OUR invoices cheaply: the result may be trusted only if the whole
    string equals the BOLT11 our node issued, which our node signed; anything else must go
    through ``decode_bolt11``.
    """
    separator = text.rfind("1")
    if separator < 1:
        return None
    try:
        words = [_BECH32[char] for char in text[separator + 1:]]
    except KeyError:
        return None
    data = words[7 : len(words) - 104 - 6]  # drop timestamp, signature and bech32 checksum
    index = 0
    while index + 3 <= len(data):
        tag, length = data[index], data[index + 1] * 32 + data[index + 2]
        if tag == 1 and length == 52 and index + 3 + length <= len(data):
            value = 0
            for word in data[index + 3 : index + 3 + 52]:
                value = (value << 5) | word
            return (value >> 4).to_bytes(32, "big").hex()
        index += 3 + length
    return None
