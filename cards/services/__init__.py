"""Writes for cards: issuer keys, issuance, status transitions, programming and wipe links, taps.

Key scheme (decided here, see cards/crypto.py): cards use the Bolt Card DETERMINISTIC keys.
No per-card secret is stored: K0..K4 are derived on demand from the card's IssuerKey (stored
AES-GCM-encrypted under settings.CARD_KEY_ENCRYPTION_KEY), its UID (recorded by the
programming request) and its key version (bumped on every re-programming, so a wiped chip
whose counter restarted at 0 gets fresh keys instead of replaying old counters).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from cards import crypto
from cards.keys import seal_key
from cards.locks import card_lock, issuer_keys_lock_all, programming_link_lock
from cards.models import Card, CardEvent, IssuerKey, ProgrammingLink, TapLog
from cards.selectors import (
    activation_code_hash,
    card_get_by_activation_code,
    card_keys_get,
    card_lnurlw_base,
    issuer_key_active_get,
    issuer_key_secret,
)
from flashpay.errors import ApplicationError, Conflict, FieldError, NotFound
from flashpay.events.services import event_emit

PROGRAMMING_LINK_TTL = timedelta(minutes=10)
BATCH_MAX = 500
# Crockford-like alphabet: no 0/O, 1/I/L, so a code read off a card is typed right.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

# The card state machine: inactive (issued) -> active <-> frozen; any live state -> canceled.
S = Card.Status
CARD_TRANSITIONS: dict[str, frozenset[str]] = {
    S.INACTIVE: frozenset({S.ACTIVE, S.CANCELED}),
    S.ACTIVE: frozenset({S.FROZEN, S.CANCELED}),
    S.FROZEN: frozenset({S.ACTIVE, S.CANCELED}),
    S.CANCELED: frozenset(),
}


class LinkGone(ApplicationError):
    code = "link-gone"
    status_code = 410


# --- issuer keys ---------------------------------------------------------------------------


@transaction.atomic
def issuer_key_create(
    *, label: str = "", activate: bool = True, key: bytes | None = None
) -> IssuerKey:
    """A new random IssuerKey (or an imported one), encrypted at rest; optionally made active."""
    secret = key if key is not None else os.urandom(crypto.KEY_SIZE)
    if len(secret) != crypto.KEY_SIZE:
        raise FieldError("key", "issuer keys are 16 bytes")
    issuer_key = IssuerKey(label=label, is_active=False)
    issuer_key.encrypted_key = seal_key(key=secret, ref=issuer_key.ref)
    issuer_key.full_clean()
    issuer_key.save()
    if activate:
        issuer_key = issuer_key_activate(issuer_key=issuer_key)
    return issuer_key


@transaction.atomic
def issuer_key_activate(*, issuer_key: IssuerKey) -> IssuerKey:
    """Make one key the active one for new programming; the previous one is retired (it still
    verifies the cards programmed with it)."""
    now = timezone.now()
    for key in issuer_keys_lock_all():
        if key.is_active and key.pk != issuer_key.pk:
            key.is_active = False
            key.retired_at = now
            key.full_clean()
            key.save(update_fields=["is_active", "retired_at"])
    issuer_key.refresh_from_db()
    issuer_key.is_active = True
    issuer_key.retired_at = None
    issuer_key.full_clean()
    issuer_key.save(update_fields=["is_active", "retired_at"])
    return issuer_key


def issuer_key_ensure_active() -> IssuerKey:
    """The active IssuerKey, creating the first one on a fresh install."""
    active = issuer_key_active_get()
    if active is not None:
        return active
    try:
        with transaction.atomic():
            return issuer_key_create(label="initial", activate=True)
    except IntegrityError:
        # Another process created it concurrently (one-active constraint).
        active = issuer_key_active_get()
        if active is None:
            raise
        return active


# --- issuance ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardCreated:
    card: Card
    activation_code: str  # shown once; only its hash is stored


def _new_activation_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def _check_limits(per_transaction_limit_msat: int, daily_limit_msat: int) -> None:
    for path, value in (
        ("per_transaction_limit_msat", per_transaction_limit_msat),
        ("daily_limit_msat", daily_limit_msat),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise FieldError(path, "must be a whole, non-negative number of msat")
    if per_transaction_limit_msat > daily_limit_msat:
        raise FieldError("per_transaction_limit_msat", "cannot exceed the daily limit")


@transaction.atomic
def card_create(
    *,
    name: str,
    holder=None,
    per_transaction_limit_msat: int | None = None,
    daily_limit_msat: int | None = None,
    actor=None,
) -> CardCreated:
    """Issue one card (status inactive, not yet programmed) with a fresh activation code."""
    defaults = Card()
    per_tx = (
        defaults.per_transaction_limit_msat
        if per_transaction_limit_msat is None
        else per_transaction_limit_msat
    )
    daily = defaults.daily_limit_msat if daily_limit_msat is None else daily_limit_msat
    _check_limits(per_tx, daily)
    code = _new_activation_code()
    card = Card(
        name=name,
        holder=holder,
        per_transaction_limit_msat=per_tx,
        daily_limit_msat=daily,
        issuer_key=issuer_key_ensure_active(),
        activation_code_hash=activation_code_hash(code),
    )
    card.full_clean()
    card.save()
    CardEvent.objects.create(
        card=card, kind=CardEvent.Kind.ISSUED, actor=actor, to_status=card.status
    )
    return CardCreated(card=card, activation_code=code)


@dataclass(frozen=True)
class LinkCreated:
    link: ProgrammingLink
    token: str  # shown once; only its hash is stored
    url: str  # the https URL the programmer app POSTs to
    deeplink: str  # boltcard://program?url=... or boltcard://reset?url=...


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedCard:
    card: Card
    activation_code: str
    program_link: LinkCreated


@transaction.atomic
def card_issue_batch(
    *,
    count: int,
    name_prefix: str,
    holder=None,
    per_transaction_limit_msat: int | None = None,
    daily_limit_msat: int | None = None,
    actor=None,
) -> list[IssuedCard]:
    """Issue ``count`` cards named ``<prefix> 001``..., each with a programming link; all or none."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= BATCH_MAX:
        raise FieldError("count", f"must be between 1 and {BATCH_MAX}")
    name_prefix = name_prefix.strip()
    if not name_prefix:
        raise FieldError("name_prefix", "is required")
    issued = []
    width = max(3, len(str(count)))
    for number in range(1, count + 1):
        name = name_prefix if count == 1 else f"{name_prefix} {number:0{width}d}"
        created = card_create(
            name=name,
            holder=holder,
            per_transaction_limit_msat=per_transaction_limit_msat,
            daily_limit_msat=daily_limit_msat,
            actor=actor,
        )
        link = programming_link_create(
            card=created.card, kind=ProgrammingLink.Kind.PROGRAM, actor=actor
        )
        issued.append(
            IssuedCard(
                card=created.card, activation_code=created.activation_code, program_link=link
            )
        )
    return issued


@transaction.atomic
def card_update(
    *,
    card: Card,
    name: str,
    holder,
    per_transaction_limit_msat: int,
    daily_limit_msat: int,
    actor=None,
) -> Card:
    """Operator edit of a card's name, holder and limits (status changes have their own services)."""
    _check_limits(per_transaction_limit_msat, daily_limit_msat)
    card = card_lock(pk=card.pk)
    before = (card.name, card.holder_id, card.per_transaction_limit_msat, card.daily_limit_msat)
    card.name = name
    card.holder = holder
    card.per_transaction_limit_msat = per_transaction_limit_msat
    card.daily_limit_msat = daily_limit_msat
    after = (card.name, card.holder_id, card.per_transaction_limit_msat, card.daily_limit_msat)
    if before == after:
        return card
    card.full_clean()
    card.save(
        update_fields=[
            "name",
            "holder",
            "per_transaction_limit_msat",
            "daily_limit_msat",
            "updated_at",
        ]
    )
    changed = [
        f
        for f, b, a in zip(
            ("name", "holder", "per_transaction_limit", "daily_limit"), before, after, strict=True
        )
        if b != a
    ]
    CardEvent.objects.create(
        card=card,
        kind=CardEvent.Kind.UPDATED,
        actor=actor,
        from_status=card.status,
        to_status=card.status,
        reason="changed: " + ", ".join(changed),
    )
    return card


@transaction.atomic
def card_claim(*, activation_code: str, user) -> Card:
    """Link a card to the app user who typed the activation code printed with it.

    Claiming twice by the same user is a no-op; a card held by someone else or canceled is
    refused with the same message as an unknown code, so codes cannot be probed for owners.
    """
    try:
        found = card_get_by_activation_code(code=activation_code)
    except NotFound:
        raise NotFound("no card has this activation code", code="activation-code-unknown")
    card = card_lock(pk=found.pk)
    if card.holder_id == user.pk:
        return card
    if card.holder_id is not None or card.status == S.CANCELED:
        raise NotFound("no card has this activation code", code="activation-code-unknown")
    card.holder = user
    card.full_clean()
    card.save(update_fields=["holder", "updated_at"])
    CardEvent.objects.create(
        card=card,
        kind=CardEvent.Kind.UPDATED,
        actor=user,
        from_status=card.status,
        to_status=card.status,
        reason="claimed with activation code",
    )
    return card


# --- status transitions --------------------------------------------------------------------


def _card_transition(
    *, card: Card, to: str, actor, reason: str, only_from: str | None = None
) -> Card:
    with transaction.atomic():
        card = card_lock(pk=card.pk)
        if to not in CARD_TRANSITIONS[card.status] or (only_from and card.status != only_from):
            raise Conflict(
                f"a {card.status} card cannot become {to}", code="invalid-card-transition"
            )
        from_status = card.status
        card.status = to
        fields = ["status", "updated_at"]
        if to == S.ACTIVE and card.activated_at is None:
            card.activated_at = timezone.now()
            fields.append("activated_at")
        card.full_clean()
        card.save(update_fields=fields)
        CardEvent.objects.create(
            card=card,
            kind=CardEvent.Kind.STATUS,
            actor=actor,
            from_status=from_status,
            to_status=to,
            reason=reason[:500],
        )
        # Same transaction as the change: the app and webhooks hear of it exactly when it holds.
        event_emit(
            type="CardStatusChanged",
            aggregate_type="card",
            aggregate_id=card.public_id,
            payload={
                "cardId": card.public_id,
                "from": from_status,
                "to": to,
                "reason": reason[:500],
            },
        )
        if to == S.CANCELED:
            # Outstanding links die with the card.
            ProgrammingLink.objects.filter(card=card, used_at=None, revoked_at=None).update(
                revoked_at=timezone.now()
            )
    return card


def card_activate(*, card: Card, actor=None, reason: str = "") -> Card:
    return _card_transition(
        card=card, to=S.ACTIVE, actor=actor, reason=reason, only_from=S.INACTIVE
    )


def card_freeze(*, card: Card, actor=None, reason: str = "") -> Card:
    return _card_transition(card=card, to=S.FROZEN, actor=actor, reason=reason)


def card_unfreeze(*, card: Card, actor=None, reason: str = "") -> Card:
    # Unfreezing is frozen -> active only, never a way to activate an inactive card.
    return _card_transition(card=card, to=S.ACTIVE, actor=actor, reason=reason, only_from=S.FROZEN)


def card_cancel(*, card: Card, actor=None, reason: str = "") -> Card:
    return _card_transition(card=card, to=S.CANCELED, actor=actor, reason=reason)


# --- programming and wipe links (Bolt Card docs/DEEPLINK.md) ------------------------------


@transaction.atomic
def programming_link_create(*, card: Card, kind: str, actor=None) -> LinkCreated:
    """A one-time, 10-minute link for the NFC Programmer app; older open links of the same kind
    for this card are revoked so only the newest printed QR works."""
    if kind not in ProgrammingLink.Kind.values:
        raise FieldError("kind", "must be program or wipe")
    card.refresh_from_db()
    if card.status == S.CANCELED and kind == ProgrammingLink.Kind.PROGRAM:
        raise Conflict("a canceled card cannot be programmed", code="card-canceled")
    if kind == ProgrammingLink.Kind.WIPE and card.programmed_at is None:
        raise Conflict(
            "the card is not programmed, there is nothing to wipe", code="card-not-programmed"
        )
    now = timezone.now()
    ProgrammingLink.objects.filter(card=card, kind=kind, used_at=None, revoked_at=None).update(
        revoked_at=now
    )
    token = secrets.token_urlsafe(32)
    link = ProgrammingLink(
        card=card,
        kind=kind,
        token_hash=_token_hash(token),
        created_by=actor,
        expires_at=now + PROGRAMMING_LINK_TTL,
    )
    link.full_clean()
    link.save()
    CardEvent.objects.create(
        card=card,
        kind=CardEvent.Kind.LINK_CREATED,
        actor=actor,
        from_status=card.status,
        to_status=card.status,
        reason=f"{kind} link",
    )
    route = "cards:program" if kind == ProgrammingLink.Kind.PROGRAM else "cards:wipe"
    url = f"{settings.FLASHPAY_BASE_URL.rstrip('/')}{reverse(route)}?{urlencode({'token': token})}"
    action = "program" if kind == ProgrammingLink.Kind.PROGRAM else "reset"
    deeplink = f"boltcard://{action}?url={quote(url, safe='')}"
    return LinkCreated(link=link, token=token, url=url, deeplink=deeplink)


def _consume_link(*, token: str, kind: str, ip: str | None) -> ProgrammingLink:
    """Lock and spend a link; must run inside the caller's transaction. Exactly one concurrent
    caller gets past here: the others wait on the row lock and then see ``used_at`` set."""
    try:
        link = programming_link_lock(token_hash=_token_hash(token))
    except ProgrammingLink.DoesNotExist:
        raise NotFound("unknown link", code="link-unknown")
    if link.kind != kind:
        raise NotFound("unknown link", code="link-unknown")
    if link.used_at is not None:
        raise LinkGone("this link was already used", code="link-used")
    if link.revoked_at is not None:
        raise LinkGone(
            "this link was replaced by a newer one or the card was canceled", code="link-revoked"
        )
    if timezone.now() >= link.expires_at:
        raise LinkGone("this link has expired", code="link-expired")
    link.used_at = timezone.now()
    link.used_ip = ip
    link.full_clean()
    link.save(update_fields=["used_at", "used_ip"])
    return link


def _parse_uid(uid_hex: str | None) -> bytes:
    value = (uid_hex or "").replace(":", "").strip()
    try:
        return crypto.parse_hex(value, size=crypto.UID_SIZE, name="UID")
    except ValueError as exc:
        raise FieldError("UID", str(exc))


@dataclass(frozen=True)
class ProgrammingResult:
    card: Card
    keys: crypto.CardKeys
    lnurlw_base: str


def card_program(*, token: str, uid_hex: str, ip: str | None = None) -> ProgrammingResult:
    """Spend a program link for the chip with this UID and return its keys (DETERMINISTIC.md
    "How to setup a new BoltCard": the version is bumped on every re-programming)."""
    uid = _parse_uid(uid_hex)
    try:
        with transaction.atomic():
            link = _consume_link(token=token, kind=ProgrammingLink.Kind.PROGRAM, ip=ip)
            card = card_lock(pk=link.card_id)
            if card.status == S.CANCELED:
                raise Conflict("a canceled card cannot be programmed", code="card-canceled")
            issuer_key = issuer_key_ensure_active()
            secret = issuer_key_secret(issuer_key=issuer_key)
            uid_text = uid.hex().upper()
            if (
                Card.objects.filter(uid=uid_text)
                .exclude(pk=card.pk)
                .exclude(status=S.CANCELED)
                .exists()
            ):
                raise Conflict("this chip already belongs to another live card", code="chip-in-use")
            if card.uid is not None:
                card.key_version += 1
            card.uid = uid_text
            card.issuer_key = issuer_key
            card.chip_id = crypto.card_chip_id(issuer_key=secret, uid=uid).hex()
            # A freshly programmed chip counts from 0 again.
            card.last_counter = 0
            card.programmed_at = timezone.now()
            card.wiped_at = None
            card.full_clean()
            card.save(
                update_fields=[
                    "key_version",
                    "uid",
                    "issuer_key",
                    "chip_id",
                    "last_counter",
                    "programmed_at",
                    "wiped_at",
                    "updated_at",
                ]
            )
            CardEvent.objects.create(
                card=card,
                kind=CardEvent.Kind.PROGRAMMED,
                from_status=card.status,
                to_status=card.status,
                reason=f"key version {card.key_version}",
            )
            keys = crypto.derive_card_keys(issuer_key=secret, uid=uid, version=card.key_version)
    except IntegrityError:
        # Two links programming the same chip at once: the unique constraint is the last word.
        raise Conflict("this chip already belongs to another live card", code="chip-in-use")
    return ProgrammingResult(card=card, keys=keys, lnurlw_base=card_lnurlw_base())


@dataclass(frozen=True)
class WipeResult:
    card: Card
    keys: crypto.CardKeys
    uid: str


def _lnurlw_p_c(lnurlw: str) -> tuple[str, str]:
    query = parse_qs(urlsplit(lnurlw).query)
    p, c = query.get("p", [""])[0], query.get("c", [""])[0]
    if not p or not c:
        raise FieldError("LNURLW", "must contain the card's p= and c= parameters")
    return p, c


def card_wipe(
    *, token: str, lnurlw: str | None = None, uid_hex: str | None = None, ip: str | None = None
) -> WipeResult:
    """Spend a wipe link and return the keys to reset the chip with (DETERMINISTIC.md "How to
    implement a Reset feature"). The chip proves it is this card: the LNURLW it carries must
    authenticate under this card's keys (or, without one, its UID must match)."""
    if not lnurlw and not uid_hex:
        raise FieldError("LNURLW", "send the card's LNURLW (or its UID)")
    with transaction.atomic():
        link = _consume_link(token=token, kind=ProgrammingLink.Kind.WIPE, ip=ip)
        card = card_lock(pk=link.card_id)
        if card.programmed_at is None or not card.uid:
            raise Conflict(
                "the card is not programmed, there is nothing to wipe", code="card-not-programmed"
            )
        keys = card_keys_get(card=card)
        if lnurlw:
            p_hex, c_hex = _lnurlw_p_c(lnurlw)
            try:
                picc = crypto.sun_verify_hex(p_hex=p_hex, c_hex=c_hex, k1=keys.k1, k2=keys.k2)
            except crypto.SunError:
                raise Conflict(
                    "this chip is not the card the link was made for", code="chip-mismatch"
                )
            presented = picc.uid
        else:
            presented = _parse_uid(uid_hex)
        if not hmac.compare_digest(presented.hex().upper(), card.uid):
            raise Conflict("this chip is not the card the link was made for", code="chip-mismatch")
        card.programmed_at = None
        card.wiped_at = timezone.now()
        card.full_clean()
        card.save(update_fields=["programmed_at", "wiped_at", "updated_at"])
        CardEvent.objects.create(
            card=card,
            kind=CardEvent.Kind.WIPED,
            from_status=card.status,
            to_status=card.status,
            reason=f"key version {card.key_version}",
        )
    return WipeResult(card=card, keys=keys, uid=card.uid)


# --- taps ----------------------------------------------------------------------------------


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
