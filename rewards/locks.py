"""Row-lock helpers of the rewards app (inside ``transaction.atomic()``).

Lock order, everywhere: the member, then campaigns (by pk), then catalog rows, then the ledger
accounts (the ledger locks those itself, by pk). Earning, clawbacks, expiry and redemptions of
one member therefore queue up behind the member's row instead of deadlocking.
"""
from __future__ import annotations

from collections.abc import Iterable

from flashpay.errors import NotFound
from rewards.models import Award, Campaign, CatalogCode, CatalogItem, Member

_MEMBER_RELATED = ("tier", "pending_account", "available_account", "user")


def member_lock(*, pk: int) -> Member:
    try:
        return Member.objects.select_for_update(no_key=True, of=("self",)).select_related(*_MEMBER_RELATED).get(pk=pk)
    except Member.DoesNotExist:
        raise NotFound("no such rewards member", code="member-unknown")


def member_lock_for_user(*, user_id: int) -> Member | None:
    """The user's member row, locked, or None when the user is not a member yet."""
    return (
        Member.objects.select_for_update(no_key=True, of=("self",))
        .select_related(*_MEMBER_RELATED)
        .filter(user_id=user_id)
        .first()
    )


def campaigns_lock(*, campaign_ids: Iterable[int]) -> dict[int, Campaign]:
    """Lock campaigns in pk order (their budget counters change under this lock)."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return {}
    rows = Campaign.objects.select_for_update(no_key=True, of=("self",)).filter(pk__in=ids).order_by("pk")
    return {campaign.pk: campaign for campaign in rows}


def campaign_lock(*, pk: int) -> Campaign:
    locked = campaigns_lock(campaign_ids=[pk])
    if pk not in locked:
        raise NotFound("no such campaign", code="campaign-unknown")
    return locked[pk]


def award_lock(*, pk: int) -> Award:
    try:
        return Award.objects.select_for_update(no_key=True, of=("self",)).get(pk=pk)
    except Award.DoesNotExist:
        raise NotFound("no such award", code="award-unknown")


def member_lots_lock(*, member_id: int) -> list[Award]:
    """The member's available lots with points left, in the order they are spent: soonest to
    expire first, then oldest (the member lock must be held already)."""
    from django.db.models import F

    return list(
        Award.objects.select_for_update(no_key=True, of=("self",))
        .filter(member_id=member_id, status=Award.Status.AVAILABLE, remaining_msat__gt=0)
        .order_by(F("expires_at").asc(nulls_last=True), "created_at", "pk")
    )


def catalog_item_lock(*, public_id: str) -> CatalogItem:
    try:
        return CatalogItem.objects.select_for_update(no_key=True, of=("self",)).get(public_id=public_id)
    except CatalogItem.DoesNotExist:
        raise NotFound("no such catalog item", code="item-unknown")


def catalog_code_take(*, item_id: int) -> CatalogCode | None:
    """The item's next free code, locked; concurrent takers skip each other's rows."""
    return (
        CatalogCode.objects.select_for_update(no_key=True, skip_locked=True, of=("self",))
        .filter(item_id=item_id, handed_out_at__isnull=True)
        .order_by("pk")
        .first()
    )
