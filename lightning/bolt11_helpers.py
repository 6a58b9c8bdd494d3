"""BOLT11 payment requests: decode, check the network, expiry and amount (BOLT #11)."""
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
