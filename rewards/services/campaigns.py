"""Campaigns: their state machine with audit rows, and the grants they make on a purchase.

State machine (every move writes a ``CampaignEvent`` with who, when, from, to and why)::

    draft -> active | ended      active -> paused | ended      paused -> active | ended

A campaign grants points only while it is active and inside its schedule: ``starts_at`` <= t <
``ends_at``, on its days of the week and between its hours, in its own time zone. The scheduled
task ``campaigns_end_due`` ends campaigns whose ``ends_at`` has passed.

A grant is what a campaign adds to one purchase, trimmed to what is left of its budget and of
the member's caps (per day, week and month in the campaign's time zone, and in total). It is
reserved under the campaign's row lock by raising ``spent_msat`` (the live counter), so
concurrent purchases can never spend more than the budget: the database also refuses it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from flashpay.errors import Conflict
from rewards.locks import campaign_lock, campaigns_lock
from rewards.models import (
    MSAT_PER_POINT,
    Award,
    AwardPart,
    Campaign,
    CampaignEvent,
    FundingAccount,
    Member,
)
from rewards.selectors import campaign_in_schedule, campaign_zone

S = Campaign.State
CAMPAIGN_TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.ACTIVE, S.ENDED}),
    S.ACTIVE: frozenset({S.PAUSED, S.ENDED}),
    S.PAUSED: frozenset({S.ACTIVE, S.ENDED}),
    S.ENDED: frozenset(),
}


def campaign_validate(*, campaign: Campaign) -> None:
    """The rules a campaign's fields must keep beyond their own types (admin forms show them per field)."""
    errors = {}
    try:
        ZoneInfo(campaign.time_zone or settings.REWARDS_DEFAULT_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = "not a known IANA time zone (e.g. America/Jamaica)"
    days = campaign.days_of_week or ""
    if any(day not in "0123456" for day in days) or len(set(days)) != len(days):
        errors["days_of_week"] = "digits 0 (Monday) to 6 (Sunday), each at most once"
    if campaign.hour_from == campaign.hour_to % 24 and campaign.hour_to != 24:
        errors["hour_to"] = "the hours must not be an empty window"
    if campaign.effect == Campaign.Effect.BONUS and campaign.bonus_points < 1:
        errors["bonus_points"] = "a bonus campaign needs at least 1 bonus point"
    if campaign.effect == Campaign.Effect.MULTIPLIER and campaign.multiplier <= 1:
        errors["multiplier"] = "a multiplier campaign needs a multiplier above 1"
    if campaign.budget_points is not None and campaign.budget_points * MSAT_PER_POINT < campaign.spent_msat:
        errors["budget_points"] = f"{campaign.spent_msat // MSAT_PER_POINT} points were already granted"
    if errors:
        raise ValidationError(errors)


def campaign_save(*, campaign: Campaign, actor=None) -> Campaign:
    """Create a campaign (as a draft, with its first audit row) or save an operator's edits.

    The state never changes here (the transition services do that) and the budget cannot drop
    below what was already granted. Call with the campaign's fields set; its stores are set by
    the caller after saving (many-to-many)."""
    campaign.full_clean()
    campaign_validate(campaign=campaign)
    with transaction.atomic():
        if campaign.pk is None:
            campaign.state = S.DRAFT
            campaign.spent_msat = 0
            campaign.save(force_insert=True)
            CampaignEvent.objects.create(campaign=campaign, actor=actor, from_state="", to_state=S.DRAFT, reason="created")
            return campaign
        locked = campaign_lock(pk=campaign.pk)
        campaign.state, campaign.spent_msat = locked.state, locked.spent_msat
        campaign_validate(campaign=campaign)
        campaign.updated_at = timezone.now()
        fields = [
            f.name for f in Campaign._meta.concrete_fields
            if f.name not in ("id", "public_id", "state", "spent_msat", "created_at")
        ]
        campaign.save(update_fields=fields)
    return campaign


def _transition(*, campaign: Campaign, to: str, actor, reason: str, only_from: str | None = None) -> Campaign:
    with transaction.atomic():
        locked = campaign_lock(pk=campaign.pk)
        if to not in CAMPAIGN_TRANSITIONS[locked.state] or (only_from and locked.state != only_from):
            raise Conflict(f"a {locked.state} campaign cannot become {to}", code="invalid-campaign-transition")
        if to == S.ACTIVE and locked.ends_at is not None and locked.ends_at <= timezone.now():
            raise Conflict("this campaign's end is past; change its end to run it again", code="campaign-over")
        before = locked.state
        locked.state = to
        locked.updated_at = timezone.now()
        locked.save(update_fields=["state", "updated_at"])
        CampaignEvent.objects.create(campaign=locked, actor=actor, from_state=before, to_state=to, reason=reason[:500])
    return locked


def campaign_activate(*, campaign: Campaign, actor=None, reason: str = "") -> Campaign:
    return _transition(campaign=campaign, to=S.ACTIVE, actor=actor, reason=reason or "activated", only_from=S.DRAFT)


def campaign_pause(*, campaign: Campaign, actor=None, reason: str = "") -> Campaign:
    return _transition(campaign=campaign, to=S.PAUSED, actor=actor, reason=reason or "paused")


def campaign_resume(*, campaign: Campaign, actor=None, reason: str = "") -> Campaign:
    return _transition(campaign=campaign, to=S.ACTIVE, actor=actor, reason=reason or "resumed", only_from=S.PAUSED)


def campaign_end(*, campaign: Campaign, actor=None, reason: str = "") -> Campaign:
    return _transition(campaign=campaign, to=S.ENDED, actor=actor, reason=reason or "ended")


def campaigns_end_due(*, now: datetime | None = None) -> int:
    """The scheduled task: campaigns whose end has passed become ended; returns how many."""
    now = now or timezone.now()
    ended = 0
    due = Campaign.objects.filter(state__in=[S.ACTIVE, S.PAUSED, S.DRAFT], ends_at__lte=now).values_list("pk", flat=True)
    for campaign_id in list(due):
        try:
            _transition(campaign=Campaign(pk=campaign_id), to=S.ENDED, actor=None, reason="its end date passed")
            ended += 1
        except Conflict:
            continue  # ended meanwhile by an operator
    return ended


# --- grants ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    """The purchase a campaign is asked about."""

    on_card_payment: bool
    store_id: str
    amount_msat: int
    at: datetime


def campaign_candidate_list(*, trigger: Trigger) -> list[Campaign]:
    """Active campaigns whose trigger, merchants, minimum amount and schedule match a purchase,
    by pk. One statement (rewards.sql); the segment and the caps depend on the member (see
    campaigns_grant)."""
    from rewards import sql

    select = sql.CAMPAIGNS_FOR_CARD_PAYMENT if trigger.on_card_payment else sql.CAMPAIGNS_FOR_INVOICE
    rows = select.all([S.ACTIVE, trigger.at, trigger.at, trigger.amount_msat, trigger.store_id])
    return [campaign for campaign in rows if campaign_in_schedule(campaign=campaign, at=trigger.at)]


def _in_segment(campaign: Campaign, member: Member, at: datetime, last_purchase_at: datetime | None) -> bool:
    window = timedelta(days=campaign.segment_days)
    if campaign.segment == Campaign.Segment.NEW:
        return member.joined_at >= at - window
    if campaign.segment == Campaign.Segment.INACTIVE:
        return last_purchase_at is not None and last_purchase_at < at - window
    return True


def _member_last_purchase_at(member: Member, before: datetime) -> datetime | None:
    return (
        Award.objects.filter(member_id=member.pk, kind=Award.Kind.PURCHASE, created_at__lt=before)
        .exclude(status__in=[Award.Status.CLAWED_BACK, Award.Status.REVERSED])
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def _cap_room_msat(campaign: Campaign, member: Member, at: datetime) -> int | None:
    """What the member's caps still allow this campaign to grant them (None: no caps)."""
    caps = {
        "day": campaign.cap_day_points,
        "week": campaign.cap_week_points,
        "month": campaign.cap_month_points,
        "total": campaign.cap_total_points,
    }
    if all(cap is None for cap in caps.values()):
        return None
    local = at.astimezone(campaign_zone(campaign))
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    starts = {"day": day, "week": day - timedelta(days=day.weekday()), "month": day.replace(day=1)}
    sums = {name: Sum("amount_msat", filter=Q(created_at__gte=start)) for name, start in starts.items() if caps[name] is not None}
    sums["total"] = Sum("amount_msat")
    granted = (
        AwardPart.objects.filter(campaign_id=campaign.pk, member_id=member.pk)
        .exclude(award__status__in=[Award.Status.CLAWED_BACK, Award.Status.REVERSED])
        .aggregate(**sums)
    )
    room = None
    for name, cap in caps.items():
        if cap is not None:
            left = cap * MSAT_PER_POINT - (granted.get(name) or 0)
            room = left if room is None else min(room, left)
    return max(room, 0)


@dataclass
class Grant:
    campaign: Campaign
    funder: FundingAccount
    amount_msat: int


def _reserve(campaign: Campaign, member: Member, wanted_msat: int, at: datetime) -> int:
    """Raise the locked campaign's counter by what it can grant of ``wanted_msat``; returns it."""
    room = wanted_msat
    if campaign.budget_points is not None:
        room = min(room, campaign.budget_points * MSAT_PER_POINT - campaign.spent_msat)
    cap_room = _cap_room_msat(campaign, member, at)
    if cap_room is not None:
        room = min(room, cap_room)
    room -= room % MSAT_PER_POINT  # whole points
    if room <= 0:
        return 0
    campaign.spent_msat += room
    campaign.save(update_fields=["spent_msat"])
    return room


def campaign_grant_release(*, grant: Grant) -> None:
    """Give a reserved grant back to its campaign's budget (its funder could not pay it)."""
    grant.campaign.spent_msat -= grant.amount_msat
    grant.campaign.save(update_fields=["spent_msat"])


def _points(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_DOWN))


def campaigns_grant(*, member: Member, candidates: list[Campaign], base_msat: int, at: datetime) -> list[Grant]:
    """What the candidate campaigns add to a purchase whose base points are ``base_msat``.

    THE STACKING RULE (also in README "Rewards"):
    1. Multiplier campaigns do not stack with each other: only the one with the highest
       multiplier (ties: the older campaign) grants, ``base x (multiplier - 1)`` extra points.
       If it can grant nothing (budget or caps used up), the next best one is asked.
    2. Every bonus campaign adds its fixed bonus on top.
    3. Each grant is trimmed to what is left of its own campaign's budget and of the member's
       caps for that campaign; whole points, rounded down.
    The member's lock is held by the caller; campaigns are locked here (in pk order) and their
    counters raised, in the caller's transaction.
    """
    if not candidates:
        return []
    last_purchase_at = None
    if any(c.segment == Campaign.Segment.INACTIVE for c in candidates):
        last_purchase_at = _member_last_purchase_at(member, at)
    eligible = [c for c in candidates if _in_segment(c, member, at, last_purchase_at)]
    if not eligible:
        return []
    locked = campaigns_lock(campaign_ids=[c.pk for c in eligible])
    live = []
    for candidate in eligible:
        campaign = locked.get(candidate.pk)
        if campaign is None or campaign.state != S.ACTIVE:
            continue  # paused or ended since the candidates were read
        campaign.funder = candidate.funder  # with its ledger account, already loaded
        live.append(campaign)
    grants: list[Grant] = []
    multipliers = sorted(
        (c for c in live if c.effect == Campaign.Effect.MULTIPLIER), key=lambda c: (-c.multiplier, c.pk)
    )
    base_points = Decimal(base_msat // MSAT_PER_POINT)
    for campaign in multipliers:
        wanted = _points(base_points * (campaign.multiplier - 1)) * MSAT_PER_POINT
        granted = _reserve(campaign, member, wanted, at) if wanted > 0 else 0
        if granted:
            grants.append(Grant(campaign=campaign, funder=campaign.funder, amount_msat=granted))
            break
    for campaign in live:
        if campaign.effect == Campaign.Effect.BONUS:
            granted = _reserve(campaign, member, campaign.bonus_points * MSAT_PER_POINT, at)
            if granted:
                grants.append(Grant(campaign=campaign, funder=campaign.funder, amount_msat=granted))
    return grants
