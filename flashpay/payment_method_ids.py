"""Greenfield payment method ids: the canonical BTCPay 2.x ids and the one parser for every spelling.

Every place that reads a payment method id from a client (URL paths, request bodies, query strings,
the store's ``defaultPaymentMethod`` and ``paymentMethodCriteria``) calls ``payment_method_id_parse``;
every response shows the canonical ``PaymentMethodId`` value. The ids live in the shared kernel
because a store (``flashpay.accounts``) names them as well as invoices do.

The parser follows BTCPay 2.x ``PaymentMethodId.TryParse`` (BTCPayServer/Payments/PaymentMethodId.cs):

- surrounding whitespace is ignored and the text is split on ``-`` and ``_``, empty parts dropped
  (so ``BTC-CHAIN``, ``BTC_CHAIN`` and ``_BTC__CHAIN_`` are one id);
- one part that is a crypto code means on-chain: ``BTC`` is ``BTC-CHAIN``;
- two parts are a crypto code and a payment type; the legacy 1.x type names map to the 2.x ones
  (``OnChain``, ``BitcoinLike``, ``BTCLike``, ``MoneroLike``, ``ZcashLike`` to ``CHAIN``;
  ``LightningLike``, ``LightningNetwork``, ``OffChain`` to ``LN``; ``LNURLPay`` to ``LNURL``),
  any other type is taken as it is (``BTC_LN`` is ``BTC-LN``);
- anything else is an unknown id (BTCPay's own ``on-chain``/``off-chain`` names split into three
  parts there too, so they never match).

Case: BTCPay compares crypto codes and the legacy type names without regard to case, and compares
whole ids case-insensitively (``PaymentMethodId.Equals``); only its handler lookup, which hashes
the exact text, makes ``BTC-ln`` miss there. Accepting every case here is a superset of what
BTCPay accepts, so a client that works against BTCPay works here.

FlashPay supports bitcoin only, so a well-formed id of another chain (``LTC-CHAIN``) is unknown.
"""
from __future__ import annotations

import re

from django.db import models


class PaymentMethodId(models.TextChoices):
    """Greenfield payment method ids (the ``PaymentMethodId`` schema)."""

    BTC_CHAIN = "BTC-CHAIN"
    BTC_LN = "BTC-LN"
    BTC_LNURL = "BTC-LNURL"


# BTCPay's GetPaymentType: legacy type names, lower-case, to the 2.x payment type.
_LEGACY_TYPES = {
    "onchain": "CHAIN",
    "bitcoinlike": "CHAIN",
    "btclike": "CHAIN",
    "monerolike": "CHAIN",
    "zcashlike": "CHAIN",
    "lightninglike": "LN",
    "lightningnetwork": "LN",
    "offchain": "LN",
    "lnurlpay": "LNURL",
}
_SEPARATORS = re.compile(r"[-_]+")
_SUPPORTED_CRYPTO_CODES = frozenset({"BTC"})
# Longer than any spelling above; a longer text is not a payment method id.
_MAX_LENGTH = 100


def payment_method_id_parse(text: object) -> PaymentMethodId | None:
    """The canonical id for any spelling BTCPay accepts (``BTC_CHAIN``, ``BTC``, ``BTC-OnChain``,
    ``BTC_LightningLike``, ``BTC-LNURLPAY``...), or None when it names no payment method we have."""
    if not isinstance(text, str) or len(text) > _MAX_LENGTH:
        return None
    parts = [part for part in _SEPARATORS.split(text.strip()) if part]
    if len(parts) == 1:
        crypto_code, payment_type = parts[0], "CHAIN"
    elif len(parts) == 2:
        crypto_code, payment_type = parts
        payment_type = _LEGACY_TYPES.get(payment_type.lower(), payment_type)
    else:
        return None
    crypto_code = crypto_code.upper()
    if crypto_code not in _SUPPORTED_CRYPTO_CODES:
        return None
    canonical = f"{crypto_code}-{payment_type.upper()}"
    return PaymentMethodId(canonical) if canonical in PaymentMethodId.values else None


def payment_method_id_describe() -> str:
    """The ids as an error message lists them: "BTC-CHAIN, BTC-LN or BTC-LNURL"."""
    values = list(PaymentMethodId.values)
    return f"{', '.join(values[:-1])} or {values[-1]}"
