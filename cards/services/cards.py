"""Cards and their status: issuance (one or a batch, with activation codes), operator and holder
edits of name and limits, claiming by activation code, and the status machine
inactive -> active <-> frozen -> canceled, each change audited (CardEvent) and announced (outbox).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cards.locks import card_lock
from cards.models import Card, CardEvent, ProgrammingLink
from cards.selectors import activation_code_hash, card_get_by_activation_code
from cards.services.issuer_keys import issuer_key_ensure_active
from cards.services.programming import LinkCreated, programming_link_create
from flashpay.errors import Conflict, FieldError, NotFound
from flashpay.events.services import event_emit

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
    """Link a card to the app user who typed the activation code printed with it, and activate
    it if its chip is programmed (else it activates when it is programmed: ``card_program``).

    Claiming twice by the same user is a no-op; a card held by someone else or canceled is
    refused with the same message as an unknown code, so codes cannot be probed for owners.
    """
    try:
        found = card_get_by_activation_code(code=activation_code)
    except NotFound:
        raise NotFound("no card has this activation code", code="activation-code-unknown")
    card = card_lock(pk=found.pk)
    if card.holder_id == user.pk:
        return card_activate_when_ready(card=card, actor=user, reason="activated by its holder with the printed code")
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
    return card_activate_when_ready(card=card, actor=user, reason="activated by its holder with the printed code")



def card_limits_set_by_holder(*, card: Card, per_transaction_limit_msat: int, daily_limit_msat: int, user) -> Card:
    """The holder's own limits, within the program maximums (CARD_APP_MAX_*)."""
    if per_transaction_limit_msat > settings.CARD_APP_MAX_PER_TRANSACTION_MSAT:
        raise FieldError(
            "per_transaction_limit_msat",
            f"cannot exceed the program maximum of {settings.CARD_APP_MAX_PER_TRANSACTION_MSAT} msat",
        )
    if daily_limit_msat > settings.CARD_APP_MAX_DAILY_MSAT:
        raise FieldError("daily_limit_msat", f"cannot exceed the program maximum of {settings.CARD_APP_MAX_DAILY_MSAT} msat")
    return card_update(
        card=card,
        name=card.name,
        holder=card.holder,
        per_transaction_limit_msat=per_transaction_limit_msat,
        daily_limit_msat=daily_limit_msat,
        actor=user,
    )


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


def card_activate_when_ready(*, card: Card, actor=None, reason: str = "") -> Card:
    """Activation without an operator: a card that is programmed (its chip has keys) and held
    (its holder proved possession with the printed code) becomes active, once, whichever of the
    two happened last. Frozen and canceled cards are left alone; so is a card that was active
    before (activated_at set). Anything else is returned unchanged."""
    if card.status == S.INACTIVE and card.holder_id is not None and card.programmed_at is not None and card.activated_at is None:
        return _card_transition(card=card, to=S.ACTIVE, actor=actor, reason=reason, only_from=S.INACTIVE)
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
