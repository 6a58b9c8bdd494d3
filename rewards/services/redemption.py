"""Redemption: available points become sats on the member's Flash Card, or buy a catalog item.

Each redemption is one ledger transaction out of the member's available points, made under the
member's row lock: concurrent redemptions of one balance queue up, and the ledger refuses to
take the account below zero, so points are never spent twice. The points are taken from the
member's lots soonest-to-expire first. API replays are answered by ``@idempotent`` (the
``Idempotency-Key`` header): the same request twice redeems once.
"""
from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from flashpay.errors import ApplicationError, Conflict, FieldError, InsufficientFunds, NotFound
from flashpay.ledger.accounts import rewards_catalog_account
from flashpay.ledger.services import transaction_post
from rewards.locks import catalog_code_take, catalog_item_lock, member_lock
from rewards.models import (
    MSAT_PER_POINT,
    CatalogCode,
    CatalogItem,
    Member,
    Redemption,
    new_public_id,
)
from rewards.services.lifecycle import award_lots_spend

MAX_REDEEM_POINTS = 100_000_000


class InsufficientPoints(ApplicationError):
    code = "insufficient-points"
    status_code = 400


class OutOfStock(ApplicationError):
    code = "out-of-stock"
    status_code = 409


def _member_of(user) -> Member:
    member = Member.objects.filter(user_id=user.pk).first()
    if member is None:
        raise InsufficientPoints("you have no rewards points yet")
    return member


def _check_points(points) -> int:
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= MAX_REDEEM_POINTS:
        raise FieldError("points", f"a whole number of points from 1 to {MAX_REDEEM_POINTS}")
    return points * MSAT_PER_POINT


def reward_redeem_to_card(*, user, card_id: str, points: int, now: datetime | None = None) -> Redemption:
    """Put ``points`` of the user's available points onto their Flash Card as sats, at once.

    The card must be the user's and active (cards.services.rewards.card_reward_credit).
    """
    from cards.services.rewards import card_reward_credit

    amount = _check_points(points)
    member = _member_of(user)
    public_id = new_public_id()
    with transaction.atomic():
        member = member_lock(pk=member.pk)
        try:
            txn = card_reward_credit(
                card_public_id=card_id,
                holder_id=user.pk,
                from_account=member.available_account,
                amount_msat=amount,
                idempotency_key=f"reward-redeem:{public_id}",
                description=f"{points} reward points redeemed onto the card",
                reference=public_id,
            )
        except InsufficientFunds:
            raise InsufficientPoints(f"you have fewer than {points} available points")
        award_lots_spend(member=member, amount_msat=amount)
        redemption = Redemption(
            public_id=public_id,
            member=member,
            kind=Redemption.Kind.CARD,
            amount_msat=amount,
            card_id=card_id,
            txn_id=txn.pk,
            created_at=now or timezone.now(),
        )
        redemption.save(force_insert=True)
    return redemption


def reward_redeem_catalog(*, user, item_id: str, now: datetime | None = None) -> Redemption:
    """Buy one catalog item with points: one of its stock, and one of its codes if it has codes."""
    member = _member_of(user)
    public_id = new_public_id()
    now = now or timezone.now()
    with transaction.atomic():
        member = member_lock(pk=member.pk)
        item = catalog_item_lock(public_id=item_id)
        if not item.active:
            raise NotFound("no such catalog item", code="item-unknown")
        if item.stock is not None and item.stock < 1:
            raise OutOfStock(f"{item.name} is out of stock")
        code = None
        if item.uses_codes:
            code = catalog_code_take(item_id=item.pk)
            if code is None:
                raise OutOfStock(f"{item.name} is out of stock (no codes left)")
        amount = item.price_points * MSAT_PER_POINT
        try:
            txn = transaction_post(
                entries=[(member.available_account, -amount), (rewards_catalog_account(), amount)],
                idempotency_key=f"reward-redeem:{public_id}",
                description=f"{item.price_points} points for {item.name}"[:500],
                metadata={"type": "reward", "action": "catalog", "reference": public_id, "item": item.public_id},
            )
        except InsufficientFunds:
            raise InsufficientPoints(f"{item.name} costs {item.price_points} points; you have fewer available")
        award_lots_spend(member=member, amount_msat=amount)
        if item.stock is not None:
            item.stock -= 1
            item.save(update_fields=["stock"])
        if code is not None:
            code.handed_out_at = now
            code.save(update_fields=["handed_out_at"])
        redemption = Redemption(
            public_id=public_id,
            member=member,
            kind=Redemption.Kind.CATALOG,
            amount_msat=amount,
            item=item,
            code=code,
            txn_id=txn.pk,
            created_at=now,
        )
        redemption.save(force_insert=True)
    return redemption


def catalog_item_save(*, item: CatalogItem) -> CatalogItem:
    item.full_clean()
    item.save()
    return item


def catalog_codes_add(*, item: CatalogItem, codes: list[str]) -> int:
    """Load one-time codes for an item (one per line); duplicates of codes it has are skipped.
    Returns how many were added."""
    cleaned = []
    for line in codes:
        code = line.strip()
        if not code:
            continue
        if len(code) > 200 or not code.isprintable():
            raise FieldError("codes", "each code is at most 200 printable characters")
        cleaned.append(code)
    if not cleaned:
        raise FieldError("codes", "no codes given")
    if not item.uses_codes:
        raise Conflict("this item hands out no codes; tick 'uses codes' first", code="item-without-codes")
    before = CatalogCode.objects.filter(item=item).count()
    try:
        with transaction.atomic():
            CatalogCode.objects.bulk_create((CatalogCode(item=item, code=code) for code in dict.fromkeys(cleaned)), ignore_conflicts=True)
    except IntegrityError:
        raise Conflict("the codes could not be stored; try again")
    return CatalogCode.objects.filter(item=item).count() - before
