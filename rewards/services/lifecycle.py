"""An award's life after issuance: pending -> available (maturing), clawback, reversal, expiry.

Every step is one ledger transaction and a status change on the award, under the member's row
lock (rewards.locks: member, then campaigns, then ledger accounts):

- ``award_mature``: after the hold period, the member's pending points -> available points; the
  award becomes a lot of available points (``remaining_msat``).
- ``award_clawback``: a refund, an invalidated invoice or a reversed payment inside the hold
  period: pending points -> back to each funder; a campaign's budget gets its share back.
  After the hold period the points are the member's: a clawback then changes nothing.
- ``award_reverse``: an operator's reversal with a reason: a pending award is clawed back, an
  available one loses what is left of it (back to its funders, pro rata to their parts).
- ``award_expire``: REWARDS_EXPIRY_MONTHS after it was earned, what is left of a lot goes back
  to its funders (pro rata).
- ``award_lots_spend``: redemptions and negative adjustments spend lots soonest-to-expire first,
  so the sum of ``remaining_msat`` always equals the available account's balance.
"""
from __future__ import annotations

import calendar
import logging
from collections import defaultdict
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from flashpay.errors import ApplicationError, Conflict
from flashpay.ledger.services import transaction_post
from rewards.locks import award_lock, campaigns_lock, member_lock, member_lots_lock
from rewards.models import MSAT_PER_POINT, Award, AwardPart, Campaign, Member

logger = logging.getLogger(__name__)


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` later (the month's last day when it is shorter)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def award_expiry(*, earned_at: datetime) -> datetime | None:
    """When points earned at ``earned_at`` expire (None: REWARDS_EXPIRY_MONTHS = 0, never)."""
    months = settings.REWARDS_EXPIRY_MONTHS
    return add_months(earned_at, months) if months > 0 else None


def _metadata(award: Award, action: str, **extra) -> dict:
    return {"type": "reward", "action": action, "award": award.public_id, "reference": award.public_id, **extra}


def _funder_shares(award: Award, amount_msat: int) -> dict:
    """Split ``amount_msat`` (whole points) among the award's funders, pro rata to their parts,
    in whole points (largest remainders get the odd points). Returns {ledger account: msat}."""
    parts = list(AwardPart.objects.filter(award_id=award.pk).select_related("funder__account").order_by("pk"))
    by_funder: dict[int, int] = defaultdict(int)
    accounts = {}
    for part in parts:
        by_funder[part.funder.account_id] += part.amount_msat
        accounts[part.funder.account_id] = part.funder.account
    total = sum(by_funder.values())
    points = amount_msat // MSAT_PER_POINT
    shares, remainders = {}, []
    for account_id, msat in sorted(by_funder.items()):
        exact = points * msat
        shares[account_id], rest = divmod(exact, total)
        remainders.append((-rest, account_id))
    for _rest, account_id in sorted(remainders)[: points - sum(shares.values())]:
        shares[account_id] += 1
    return {accounts[account_id]: share * MSAT_PER_POINT for account_id, share in shares.items() if share}


def _campaign_refund(award: Award) -> None:
    """Give campaigns back the budget of a clawed-back award (those points were never kept)."""
    parts = list(AwardPart.objects.filter(award_id=award.pk, campaign__isnull=False).values_list("campaign_id", "amount_msat"))
    if not parts:
        return
    campaigns_lock(campaign_ids=[campaign_id for campaign_id, _ in parts])
    for campaign_id, amount in parts:
        Campaign.objects.filter(pk=campaign_id).update(spent_msat=F("spent_msat") - amount)


def awards_mature(*, now: datetime | None = None, limit: int = 500) -> int:
    """The scheduled task: every pending award past its hold period becomes available.
    Each award in its own short transaction; returns how many matured."""
    now = now or timezone.now()
    due = list(
        Award.objects.filter(status=Award.Status.PENDING, matures_at__lte=now)
        .order_by("matures_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    matured = 0
    for award_id in due:
        award = award_mature(award=award_id, now=now)
        matured += award.matured_at is not None and award.status == Award.Status.AVAILABLE
    return matured


def award_mature(*, award: Award | int, now: datetime | None = None) -> Award:
    """Pending -> available for one award whose hold period is over; anything else is left as is."""
    now = now or timezone.now()
    award_id = award.pk if isinstance(award, Award) else award
    member_id = Award.objects.filter(pk=award_id).values_list("member_id", flat=True).get()
    with transaction.atomic():
        member = member_lock(pk=member_id)
        award = award_lock(pk=award_id)
        if award.status != Award.Status.PENDING or award.matures_at > now:
            return award
        transaction_post(
            entries=[(member.pending_account, -award.amount_msat), (member.available_account, award.amount_msat)],
            idempotency_key=f"reward-mature:{award.public_id}",
            description=f"{award.points} points available",
            metadata=_metadata(award, "mature"),
        )
        award.status = Award.Status.AVAILABLE
        award.matured_at = now
        award.remaining_msat = award.amount_msat
        award.save(update_fields=["status", "matured_at", "remaining_msat"])
    return award


def award_clawback(*, award: Award | int, reason: str, actor=None, now: datetime | None = None) -> Award:
    """Take a pending award's points back to its funders (refund, invalid invoice, reversal).

    A no-op for an award that is no longer pending: past the hold period the points are the
    member's, and a clawed-back award stays clawed back (events may be delivered twice).
    """
    now = now or timezone.now()
    award_id = award.pk if isinstance(award, Award) else award
    member_id = Award.objects.filter(pk=award_id).values_list("member_id", flat=True).get()
    with transaction.atomic():
        member = member_lock(pk=member_id)
        award = award_lock(pk=award_id)
        if award.status != Award.Status.PENDING:
            if award.status == Award.Status.AVAILABLE:
                logger.info("award %s not clawed back (%s): its hold period is over", award.public_id, reason)
            return award
        _campaign_refund(award)
        shares = _funder_shares(award, award.amount_msat)
        transaction_post(
            entries=[(member.pending_account, -award.amount_msat), *shares.items()],
            idempotency_key=f"reward-clawback:{award.public_id}",
            description=f"{award.points} points clawed back: {reason}"[:500],
            metadata=_metadata(award, "clawback"),
        )
        award.status = Award.Status.CLAWED_BACK
        award.clawed_back_at = now
        award.clawback_reason = reason[:500]
        award.reversed_by = actor
        award.save(update_fields=["status", "clawed_back_at", "clawback_reason", "reversed_by"])
    return award


def awards_clawback(*, reason: str, invoice_id: str = "", idempotency_key: str = "") -> list[Award]:
    """Claw back the pending awards of a purchase, found by its invoice or by its source key."""
    if not invoice_id and not idempotency_key:
        return []
    query = Award.objects.filter(kind=Award.Kind.PURCHASE)
    query = query.filter(invoice_id=invoice_id) if invoice_id else query.filter(idempotency_key=idempotency_key)
    return [award_clawback(award=award_id, reason=reason) for award_id in query.order_by("pk").values_list("pk", flat=True)]


def award_reverse(*, award: Award, actor, reason: str, now: datetime | None = None) -> Award:
    """The operator's "reverse an award": clawed back while pending; once available, what is left
    of it goes back to its funders (points already redeemed stay redeemed)."""
    reason = (reason or "").strip()
    if not reason:
        from flashpay.errors import FieldError

        raise FieldError("reason", "say why the award is reversed")
    now = now or timezone.now()
    if award.status == Award.Status.PENDING:
        award = award_clawback(award=award, reason=f"reversed by {actor}: {reason}", actor=actor, now=now)
        if award.status == Award.Status.CLAWED_BACK:
            return award
    with transaction.atomic():
        member = member_lock(pk=award.member_id)
        award = award_lock(pk=award.pk)
        if award.status != Award.Status.AVAILABLE:
            raise Conflict(f"a {award.get_status_display().lower()} award cannot be reversed", code="award-not-reversible")
        if award.remaining_msat <= 0:
            raise Conflict("every point of this award was already redeemed or expired", code="award-spent")
        amount = award.remaining_msat
        shares = _funder_shares(award, amount)
        transaction_post(
            entries=[(member.available_account, -amount), *shares.items()],
            idempotency_key=f"reward-reverse:{award.public_id}",
            description=f"{amount // MSAT_PER_POINT} points reversed: {reason}"[:500],
            metadata=_metadata(award, "reverse"),
        )
        award.status = Award.Status.REVERSED
        award.remaining_msat = 0
        award.clawed_back_at = now
        award.clawback_reason = f"reversed by {actor}: {reason}"[:500]
        award.reversed_by = actor
        award.save(update_fields=["status", "remaining_msat", "clawed_back_at", "clawback_reason", "reversed_by"])
    return award


def awards_expire(*, now: datetime | None = None, limit: int = 500) -> int:
    """The scheduled task: lots past their expiry give what is left back to their funders."""
    now = now or timezone.now()
    due = list(
        Award.objects.filter(status=Award.Status.AVAILABLE, remaining_msat__gt=0, expires_at__lte=now)
        .order_by("expires_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    expired = 0
    for award_id in due:
        expired += award_expire(award=award_id, now=now).expired_at is not None
    return expired


def award_expire(*, award: Award | int, now: datetime | None = None) -> Award:
    """Expire what is left of one lot whose expiry has come; anything else is left as is."""
    now = now or timezone.now()
    award_id = award.pk if isinstance(award, Award) else award
    member_id = Award.objects.filter(pk=award_id).values_list("member_id", flat=True).get()
    with transaction.atomic():
        member = member_lock(pk=member_id)
        award = award_lock(pk=award_id)
        if (
            award.status != Award.Status.AVAILABLE
            or award.remaining_msat <= 0
            or award.expires_at is None
            or award.expires_at > now
        ):
            return award
        amount = award.remaining_msat
        shares = _funder_shares(award, amount)
        transaction_post(
            entries=[(member.available_account, -amount), *shares.items()],
            idempotency_key=f"reward-expire:{award.public_id}",
            description=f"{amount // MSAT_PER_POINT} points expired",
            metadata=_metadata(award, "expire"),
        )
        award.status = Award.Status.EXPIRED
        award.expired_msat += amount
        award.remaining_msat = 0
        award.expired_at = now
        award.save(update_fields=["status", "expired_msat", "remaining_msat", "expired_at"])
    return award


def award_lots_spend(*, member: Member, amount_msat: int) -> list[tuple[Award, int]]:
    """Spend ``amount_msat`` of the member's available lots, soonest-to-expire first.

    The caller holds the member's lock and posts the matching ledger transaction in the same
    database transaction. Returns (lot, msat taken) pairs. Lots that cannot cover the amount
    while the ledger said the points were there would be a broken invariant: it raises.
    """
    left = amount_msat
    taken: list[tuple[Award, int]] = []
    for lot in member_lots_lock(member_id=member.pk):
        if left <= 0:
            break
        take = min(lot.remaining_msat, left)
        lot.remaining_msat -= take
        lot.redeemed_msat += take
        lot.save(update_fields=["remaining_msat", "redeemed_msat"])
        taken.append((lot, take))
        left -= take
    if left > 0:
        raise ApplicationError(
            f"member {member.public_id}: available lots are {left} msat short of the ledger balance",
            code="lots-out-of-step",
            status_code=500,
        )
    return taken
