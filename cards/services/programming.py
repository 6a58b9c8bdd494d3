"""Programming and wipe links for the Bolt Card NFC Programmer app (Bolt Card docs/DEEPLINK.md):
a one-time, short-lived link; spending it hands the chip its keys (program) or the keys to reset
it with once the chip proves it is the card (wipe).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from cards import crypto
from cards.locks import card_lock, programming_link_lock
from cards.models import Card, CardEvent, ProgrammingLink
from cards.selectors import card_keys_get, card_lnurlw_base, issuer_key_secret
from cards.services.issuer_keys import issuer_key_ensure_active
from flashpay.errors import ApplicationError, Conflict, FieldError, NotFound

PROGRAMMING_LINK_TTL = timedelta(minutes=10)
S = Card.Status


class LinkGone(ApplicationError):
    code = "link-gone"
    status_code = 410



@dataclass(frozen=True)
class LinkCreated:
    link: ProgrammingLink
    token: str  # shown once; only its hash is stored
    url: str  # the https URL the programmer app POSTs to
    deeplink: str  # boltcard://program?url=... or boltcard://reset?url=...


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
            # Claimed by its holder before the chip was programmed: it is ready now.
            from cards.services.cards import card_activate_when_ready  # imports this module

            card = card_activate_when_ready(card=card, reason="programmed after its holder linked it")
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
