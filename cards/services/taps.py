"""Taps: a card's tap becomes an LNURL-withdraw offer (Bolt Card + LUD-03 "withdrawRequest").

One place for the whole tap: SUN verification (``card_sun_authenticate``: tag byte, CMAC compared
in constant time, over every issuer key), then in ONE transaction the strictly-greater counter
update (``card_counter_advance``, the replay guard) and a single-use ``k1`` valid
CARD_K1_TTL_SECONDS with maxWithdrawable = min(available balance net of the routing-fee reserve,
per-transaction limit, what is left of today's limit); every tap, accepted or refused, is in the
tap log (``tap_log_record``). The wallet's callback that spends the ``k1`` is
``cards.services.payments.card_withdraw``.

Every refusal raises ``TapRefused`` (rendered ``{"status":"ERROR","reason":...}``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cards import crypto
from cards.models import Card, IssuerKey, TapLog, WithdrawRequest
from cards.selectors import card_spending_room, issuer_key_secret
from flashpay.errors import ApplicationError
from flashpay.ratelimit.services import ratelimit_hit


class TapRefused(ApplicationError):
    """A tap or callback refused with a reason the wallet shows to the user (LUD-03 ERROR)."""

    code = "tap-refused"
    status_code = 400


class RateLimited(TapRefused):
    code = "rate-limited"
    status_code = 429


def k1_hash(k1: str) -> str:
    """What is stored of a k1 (the wallet presents the k1 itself once, in the callback)."""
    return hashlib.sha256(k1.encode()).hexdigest()


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
    ``card_counter_advance`` in the same transaction as whatever the tap does.
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


def card_counter_advance(*, card: Card, counter: int) -> bool:
    """Record a tap's counter if it is strictly above the last one seen, in one atomic UPDATE;
    False means a replay (or a stale tap) and nothing changed."""
    updated = Card.objects.filter(pk=card.pk, last_counter__lt=counter).update(
        last_counter=counter, updated_at=timezone.now()
    )
    if updated:
        card.last_counter = counter
    return bool(updated)


def tap_log_record(
    *,
    card: Card | None,
    outcome: str,
    uid: str = "",
    counter: int | None = None,
    reason: str = "",
    ip: str | None = None,
) -> TapLog:
    entry = TapLog(card=card, uid=uid, counter=counter, outcome=outcome, reason=reason[:200], ip=ip)
    # The card was just read by the caller: skip the foreign-key existence query (hot path).
    entry.full_clean(exclude=["card"], validate_unique=False, validate_constraints=False)
    entry.save(force_insert=True)
    return entry


_SUN_REASONS = {
    "bad-format": "this card's link is malformed",
    "bad-tag": "this card is not recognised",
    "bad-mac": "this card's signature is not valid",
    "unknown-card": "this card is not recognised",
    "not-programmed": "this card was wiped",
}

# Why a card that is not active cannot pay: the tap and the callback say the same.
STATUS_REASONS = {
    Card.Status.FROZEN: "this card is frozen",
    Card.Status.CANCELED: "this card is canceled",
    Card.Status.INACTIVE: "this card is not activated yet",
}


@dataclass(frozen=True)
class WithdrawOffer:
    """What the tap endpoint answers (LUD-03 withdrawRequest)."""

    card: Card
    k1: str
    min_withdrawable_msat: int
    max_withdrawable_msat: int
    default_description: str


def _refuse_tap(*, reason: str, card: Card | None, uid: str = "", counter: int | None = None, ip=None, code="tap-refused"):
    tap_log_record(card=card, outcome=TapLog.Outcome.REJECTED, uid=uid, counter=counter, reason=reason, ip=ip)
    error_class = RateLimited if code == "rate-limited" else TapRefused
    return error_class(reason, code=code)


def card_tap(*, p: str, c: str, ip: str | None = None) -> WithdrawOffer:
    """Verify a tap and offer a withdrawal (see the module docstring); TapRefused otherwise."""
    if ip and not ratelimit_hit(key=f"tap-ip:{ip}", limit=settings.CARD_RATE_LIMIT_PER_IP):
        raise _refuse_tap(reason="too many taps from this address, try again in a minute", card=None, ip=ip, code="rate-limited")
    try:
        tap = card_sun_authenticate(p_hex=p or "", c_hex=c or "")
    except crypto.SunError as exc:
        raise _refuse_tap(reason=_SUN_REASONS.get(exc.reason, "this card is not recognised"), card=None, ip=ip)
    card = tap.card
    if not ratelimit_hit(key=f"tap-card:{card.pk}", limit=settings.CARD_RATE_LIMIT_PER_CARD):
        raise _refuse_tap(reason="too many taps of this card, try again in a minute", card=card, uid=tap.uid, counter=tap.counter, ip=ip, code="rate-limited")
    if card.status != Card.Status.ACTIVE:
        raise _refuse_tap(reason=STATUS_REASONS.get(card.status, "this card cannot pay"), card=card, uid=tap.uid, counter=tap.counter, ip=ip)
    k1 = secrets.token_hex(32)
    with transaction.atomic():
        advanced = card_counter_advance(card=card, counter=tap.counter)
        if advanced:
            room = card_spending_room(card=card)
            if room.max_msat >= settings.CARD_MIN_WITHDRAWABLE_MSAT:
                now = timezone.now()
                request = WithdrawRequest(
                    card=card,
                    k1_hash=k1_hash(k1),
                    counter=tap.counter,
                    max_withdrawable_msat=room.max_msat,
                    ip=ip,
                    expires_at=now + timedelta(seconds=settings.CARD_K1_TTL_SECONDS),
                )
                request.full_clean(exclude=["card"], validate_unique=False, validate_constraints=False)
                request.save(force_insert=True)
                tap_log_record(card=card, outcome=TapLog.Outcome.ACCEPTED, uid=tap.uid, counter=tap.counter, ip=ip)
    if not advanced:
        raise _refuse_tap(
            reason="this tap was already used (replayed link); tap the card again",
            card=card, uid=tap.uid, counter=tap.counter, ip=ip,
        )
    if room.max_msat < settings.CARD_MIN_WITHDRAWABLE_MSAT:
        reason = {
            "daily limit": "this card's daily limit is reached",
            "per-payment limit": "this card's per-payment limit is zero",
        }.get(room.bound, "this card's balance is too low")
        raise _refuse_tap(reason=reason, card=card, uid=tap.uid, counter=tap.counter, ip=ip)
    return WithdrawOffer(
        card=card,
        k1=k1,
        min_withdrawable_msat=settings.CARD_MIN_WITHDRAWABLE_MSAT,
        max_withdrawable_msat=room.max_msat,
        default_description=f"Flash Card {card.name}"[:639],
    )


def tap_offers_purge(*, older_than_seconds: int = 3600) -> int:
    """Drop expired offers that were never paid with (run by a schedule); how many went.

    Dead once expired: the tap log keeps the tap.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    deleted, _ = WithdrawRequest.objects.filter(used_at__isnull=True, expires_at__lt=cutoff).delete()
    return deleted
