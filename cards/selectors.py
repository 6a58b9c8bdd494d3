"""Reads for cards: issuer key material, card keys, lookups, and SUN authentication of a tap."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import QuerySet

from cards import crypto
from cards.keys import open_key
from cards.models import Card, IssuerKey
from flashpay.errors import NotFound

# Path of the tap (LNURL-withdraw) endpoint written on every card; the tap view must be routed
# here (cards/urls.py, name "tap") because programmed cards keep this URL until re-programmed.
TAP_PATH = "/cards/tap"


def issuer_key_secret(*, issuer_key: IssuerKey) -> bytes:
    """The plaintext IssuerKey; keep it in memory only for the derivation at hand."""
    return open_key(blob=issuer_key.encrypted_key, ref=issuer_key.ref)


def issuer_key_active_get() -> IssuerKey | None:
    return IssuerKey.objects.filter(is_active=True).first()


def card_keys_get(*, card: Card) -> crypto.CardKeys:
    """K0..K4 of a programmed card at its current key version (deterministic, never stored)."""
    if not card.uid:
        raise NotFound("card has not been programmed", code="card-not-programmed")
    return crypto.derive_card_keys(
        issuer_key=issuer_key_secret(issuer_key=card.issuer_key),
        uid=bytes.fromhex(card.uid),
        version=card.key_version,
    )


def card_lnurlw_base() -> str:
    """``lnurlw://HOST/cards/tap`` with the host (and port) of FLASHPAY_BASE_URL (LUD-17 scheme)."""
    host = urlsplit(settings.FLASHPAY_BASE_URL).netloc
    return f"lnurlw://{host}{TAP_PATH}"


def card_get(*, public_id: str) -> Card:
    card = Card.objects.filter(public_id=public_id).first()
    if card is None:
        raise NotFound("card not found")
    return card


def card_list(*, holder=None, status: str | None = None) -> QuerySet[Card]:
    qs = Card.objects.select_related("holder").order_by("-pk")
    if holder is not None:
        qs = qs.filter(holder=holder)
    if status:
        qs = qs.filter(status=status)
    return qs


def activation_code_hash(code: str) -> str:
    """Normalised (upper case, no dashes or spaces) SHA-256 of an activation code."""
    normalised = "".join(code.split()).replace("-", "").upper()
    return hashlib.sha256(normalised.encode()).hexdigest()


def card_get_by_activation_code(*, code: str) -> Card:
    card = Card.objects.filter(activation_code_hash=activation_code_hash(code)).first()
    if card is None:
        raise NotFound("no card has this activation code", code="activation-code-unknown")
    return card


@dataclass(frozen=True)
class AuthenticatedTap:
    card: Card
    uid: str
    counter: int


def card_sun_authenticate(*, p_hex: str, c_hex: str) -> AuthenticatedTap:
    """Find the card behind a tap's ``p``/``c`` and verify its SUN MAC (DETERMINISTIC.md
    "How to implement a verification", steps 2-9, over every issuer key).

    Raises crypto.SunError (reason ``bad-format``, ``bad-tag``, ``bad-mac``, ``unknown-card``
    or ``not-programmed``). Counter freshness is NOT checked here: the caller does it with
    ``services.card_counter_advance`` in the same transaction as whatever the tap does.
    """
    try:
        p = crypto.parse_hex(p_hex, size=16, name="p")
        c = crypto.parse_hex(c_hex, size=8, name="c")
    except ValueError as exc:
        raise crypto.SunError("bad-format", str(exc))
    # Newest key first: most live cards use it. One AES block and one CMAC per key. A wrong
    # K1 still yields the 0xC7 tag once in 256 tries, so a miss under one key moves on to the
    # next one and only the last, most specific failure is reported.
    failure = crypto.SunError("bad-tag", "p does not decrypt under any issuer key")
    for issuer_key in IssuerKey.objects.order_by("-is_active", "-pk"):
        secret = issuer_key_secret(issuer_key=issuer_key)
        try:
            picc = crypto.sun_decrypt(p=p, k1=crypto.encryption_key(secret))
        except crypto.SunError:
            continue
        chip_id = crypto.card_chip_id(issuer_key=secret, uid=picc.uid).hex()
        card = (
            Card.objects.filter(issuer_key=issuer_key, chip_id=chip_id)
            .exclude(status=Card.Status.CANCELED)
            .select_related("holder")
            .first()
        )
        if card is None:
            failure = crypto.SunError("unknown-card", "no live card has this chip")
            continue
        if card.programmed_at is None:
            failure = crypto.SunError("not-programmed", "this card was wiped")
            continue
        keys = crypto.derive_card_keys(issuer_key=secret, uid=picc.uid, version=card.key_version)
        try:
            verified = crypto.sun_verify(p=p, c=c, k1=keys.k1, k2=keys.k2)
        except crypto.SunError as exc:
            failure = exc
            continue
        return AuthenticatedTap(card=card, uid=verified.uid.hex().upper(), counter=verified.counter)
    raise failure
