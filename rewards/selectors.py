"""Reads of the rewards app: members' balances and history, offers, catalog, and consistency checks."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from flashpay.ledger.models import Account, Entry
from rewards.models import (
    MSAT_PER_POINT,
    Award,
    Campaign,
    CatalogItem,
    EarningRule,
    Member,
    Redemption,
    Tier,
)


def campaign_zone(campaign: Campaign) -> ZoneInfo:
    """The time zone of a campaign's schedule and caps."""
    return ZoneInfo(campaign.time_zone or settings.REWARDS_DEFAULT_TIME_ZONE)


def campaign_in_schedule(*, campaign: Campaign, at: datetime) -> bool:
    """Whether ``at`` falls in the campaign's dates, days and hours (its state is not checked)."""
    if at < campaign.starts_at or (campaign.ends_at is not None and at >= campaign.ends_at):
        return False
    local = at.astimezone(campaign_zone(campaign))
    if campaign.days_of_week and str(local.weekday()) not in campaign.days_of_week:
        return False
    start, end = campaign.hour_from, campaign.hour_to
    if start < end:
        return start <= local.hour < end
    return local.hour >= start or local.hour < end  # overnight, e.g. 22 -> 2


def member_get_for_user(*, user) -> Member | None:
    return Member.objects.select_related("tier", "pending_account", "available_account").filter(user_id=user.pk).first()


def invoice_member_user_id(*, metadata: dict) -> int | None:
    """The user id of the member an invoice names: ``flashMemberId`` (a member's id), else
    ``buyerEmail`` matching a member's e-mail, or a Flash Card holder's (who becomes a member)."""
    from flashpay.accounts.models import User

    member_id = metadata.get("flashMemberId")
    if isinstance(member_id, str) and member_id:
        return Member.objects.filter(public_id=member_id).values_list("user_id", flat=True).first()
    email = metadata.get("buyerEmail")
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        return None
    user_id = Member.objects.filter(user__email__iexact=email.strip()).values_list("user_id", flat=True).first()
    if user_id is not None:
        return user_id
    from cards.selectors import card_list

    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is not None and card_list(holder=user).exclude(status="canceled").exists():
        return user.pk
    return None


@dataclass(frozen=True)
class TierView:
    name: str
    multiplier: Decimal


@dataclass(frozen=True)
class BalanceView:
    """A member's points as the Flash app shows them (points = sats)."""

    member_id: str
    referral_code: str
    pending_points: int
    available_points: int
    expiring_soon_points: int
    expiring_soon_days: int
    next_expiry_at: datetime | None
    tier: TierView | None
    next_tier: TierView | None
    next_tier_spend_points: int | None
    spend_points: int


def _tier_view(tier: Tier | None) -> TierView | None:
    return TierView(name=tier.name, multiplier=tier.multiplier) if tier is not None else None


def member_balance(*, user, now: datetime | None = None) -> BalanceView:
    """Pending, available and expiring-soon points, the tier and how far the next one is."""
    now = now or timezone.now()
    days = settings.REWARDS_EXPIRING_SOON_DAYS
    member = member_get_for_user(user=user)
    tiers = list(Tier.objects.order_by("min_spend_points"))
    if member is None:
        next_tier = tiers[0] if tiers else None
        return BalanceView(
            member_id="", referral_code="", pending_points=0, available_points=0, expiring_soon_points=0,
            expiring_soon_days=days, next_expiry_at=None, tier=None, next_tier=_tier_view(next_tier),
            next_tier_spend_points=next_tier.min_spend_points if next_tier else None, spend_points=0,
        )
    balances = dict(
        Account.objects.filter(pk__in=[member.pending_account_id, member.available_account_id]).values_list("pk", "posted_msat")
    )
    lots = Award.objects.filter(member=member, status=Award.Status.AVAILABLE, remaining_msat__gt=0, expires_at__isnull=False)
    soon = lots.filter(expires_at__lte=now + timedelta(days=days)).aggregate(total=Sum("remaining_msat"))["total"] or 0
    next_expiry_at = lots.order_by("expires_at").values_list("expires_at", flat=True).first()
    spend = member.tier_spend_msat // MSAT_PER_POINT
    current_min = member.tier.min_spend_points if member.tier_id else -1
    next_tier = next((t for t in tiers if t.min_spend_points > current_min), None)
    return BalanceView(
        member_id=member.public_id,
        referral_code=member.referral_code,
        pending_points=balances.get(member.pending_account_id, 0) // MSAT_PER_POINT,
        available_points=balances.get(member.available_account_id, 0) // MSAT_PER_POINT,
        expiring_soon_points=soon // MSAT_PER_POINT,
        expiring_soon_days=days,
        next_expiry_at=next_expiry_at,
        tier=_tier_view(member.tier),
        next_tier=_tier_view(next_tier),
        next_tier_spend_points=max(next_tier.min_spend_points - spend, 0) if next_tier else None,
        spend_points=spend,
    )


@dataclass(frozen=True)
class HistoryItem:
    """One ledger transaction that moved the member's points."""

    action: str  # earn | mature | clawback | reverse | expire | redeem | catalog | adjust
    pending_points: int  # signed change of pending points
    available_points: int  # signed change of available points
    description: str
    reference: str
    created_at: datetime


def member_history_transactions(*, member: Member | None) -> QuerySet:
    """Ids of the ledger transactions that touched the member's points, newest first (paginate
    this, then ``member_history_items``)."""
    if member is None:
        return Entry.objects.none().values_list("transaction_id", flat=True)
    return (
        Entry.objects.filter(account_id__in=[member.pending_account_id, member.available_account_id])
        .values_list("transaction_id", flat=True)
        .distinct()
        .order_by("-transaction_id")
    )


def member_history_items(*, member: Member, transaction_ids: list[int]) -> list[HistoryItem]:
    entries = (
        Entry.objects.filter(
            transaction_id__in=transaction_ids, account_id__in=[member.pending_account_id, member.available_account_id]
        )
        .select_related("transaction")
        .order_by("-transaction_id", "id")
    )
    rows: dict[int, dict] = {}
    for entry in entries:
        txn = entry.transaction
        row = rows.setdefault(
            txn.pk,
            {"txn": txn, "pending": 0, "available": 0},
        )
        row["pending" if entry.account_id == member.pending_account_id else "available"] += entry.amount_msat
    items = []
    for transaction_id in transaction_ids:
        row = rows.get(transaction_id)
        if row is None:
            continue
        txn = row["txn"]
        meta = txn.metadata or {}
        action = meta.get("action") or ("redeem" if meta.get("type") == "reward" else "adjust")
        items.append(
            HistoryItem(
                action=action,
                pending_points=row["pending"] // MSAT_PER_POINT,
                available_points=row["available"] // MSAT_PER_POINT,
                description=txn.description,
                reference=str(meta.get("reference", "")),
                created_at=txn.created_at,
            )
        )
    return items


def campaign_offer_list(*, now: datetime | None = None) -> list[Campaign]:
    """Active campaigns a member can earn from now or later (what the app shows as offers)."""
    now = now or timezone.now()
    rows = (
        Campaign.objects.filter(state=Campaign.State.ACTIVE)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .prefetch_related("stores")
        .order_by("starts_at", "pk")
    )
    return list(rows)


def campaign_running_now(*, campaign: Campaign, now: datetime | None = None) -> bool:
    return campaign.state == Campaign.State.ACTIVE and campaign_in_schedule(campaign=campaign, at=now or timezone.now())


def catalog_item_list() -> QuerySet[CatalogItem]:
    """Active items, cheapest first, with how many free codes each has left."""
    return (
        CatalogItem.objects.filter(active=True)
        .annotate(free_codes=Count("codes", filter=Q(codes__handed_out_at__isnull=True)))
        .order_by("price_points", "pk")
    )


def catalog_item_in_stock(item: CatalogItem) -> bool:
    if item.stock is not None and item.stock < 1:
        return False
    return not item.uses_codes or getattr(item, "free_codes", 1) > 0


def redemption_list_for_user(*, user) -> QuerySet[Redemption]:
    return Redemption.objects.filter(member__user_id=user.pk).select_related("item", "code").order_by("-created_at", "-pk")


def earning_rule_for_store(*, store_id: str) -> EarningRule | None:
    return EarningRule.objects.select_related("funder").filter(store_id=store_id).first()


@dataclass(frozen=True)
class LotMismatch:
    member_id: str
    available_msat: int
    lots_msat: int
    pending_msat: int
    pending_awards_msat: int


def member_lots_mismatch_list() -> list[LotMismatch]:
    """Members whose lots disagree with their ledger balances: available points must equal the
    sum of their available lots' remaining points, and pending points the sum of their pending
    awards. Empty in a sound program (the reconciliation the tests and operators run)."""
    lots = dict(
        Award.objects.filter(status=Award.Status.AVAILABLE).values("member_id").annotate(t=Sum("remaining_msat")).values_list("member_id", "t")
    )
    pending = dict(
        Award.objects.filter(status=Award.Status.PENDING).values("member_id").annotate(t=Sum("amount_msat")).values_list("member_id", "t")
    )
    out = []
    for member in Member.objects.select_related("pending_account", "available_account").annotate(
        available_msat=F("available_account__posted_msat"), pending_msat=F("pending_account__posted_msat")
    ):
        lots_msat, pending_awards = lots.get(member.pk, 0), pending.get(member.pk, 0)
        if (member.available_msat, member.pending_msat) != (lots_msat, pending_awards):
            out.append(
                LotMismatch(
                    member_id=member.public_id,
                    available_msat=member.available_msat,
                    lots_msat=lots_msat,
                    pending_msat=member.pending_msat,
                    pending_awards_msat=pending_awards,
                )
            )
    return out
