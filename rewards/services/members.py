"""Members: joining the program (sign-up and referral bonuses), tiers, and operators' adjustments.

A member is a Flash app user; the row is made on first contact (a card payment of theirs, an
invoice naming them, or the app) with its two ledger accounts, pending and available points.

Bonuses are off by default (ProgramSettings, in the admin) and limited against abuse:
- the sign-up bonus is paid once per member, once per e-mail address (lower-cased, without a
  "+tag") and once per Flash Card, and only to a member holding an active card;
- the referral bonus goes to the referrer when a new member (joined within the referral window,
  no purchase yet) joins with their code and holds an active card: never to oneself, once per
  referred member and per card, and at most ``referral_cap_per_referrer`` times per referrer.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from flashpay.errors import Conflict, FieldError, InsufficientFunds, NotFound
from flashpay.ledger.accounts import member_points_account
from flashpay.ledger.services import transaction_post
from rewards.locks import member_lock
from rewards.models import (
    MSAT_PER_POINT,
    Adjustment,
    Award,
    AwardPart,
    BonusClaim,
    Member,
    ProgramSettings,
    Tier,
)
from rewards.services.funding import program_funder_get_or_create
from rewards.services.lifecycle import award_expiry, award_lots_spend

_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
MAX_ADJUSTMENT_POINTS = 100_000_000


def _referral_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))


def member_get_or_create_for_user_id(*, user_id: int) -> Member:
    """The user's member row, made (with its two ledger accounts) on first contact."""
    member = Member.objects.filter(user_id=user_id).first()
    if member is not None:
        return member
    from flashpay.accounts.models import User

    with transaction.atomic():
        # Serialise first contacts of one user, so no second pair of accounts is ever made.
        if not User.objects.select_for_update(of=("self",)).filter(pk=user_id).exists():
            raise NotFound("no such user", code="user-unknown")
        member = Member.objects.filter(user_id=user_id).first()
        if member is not None:
            return member
        member = Member(user_id=user_id, referral_code=_referral_code())
        member.pending_account = member_points_account(member_id=member.public_id, state="pending")
        member.available_account = member_points_account(member_id=member.public_id, state="available")
        for _attempt in range(5):
            try:
                with transaction.atomic():
                    member.save(force_insert=True)
                return member
            except IntegrityError:
                member.referral_code = _referral_code()  # the one unique field left to chance
        raise Conflict("could not allot a referral code; try again")


def member_get_or_create(*, user) -> Member:
    return member_get_or_create_for_user_id(user_id=user.pk)


def program_settings_get() -> ProgramSettings:
    return ProgramSettings.objects.get_or_create(pk=1)[0]


def _normalised_email(email: str) -> str:
    local, _, domain = (email or "").strip().lower().partition("@")
    return f"{local.split('+', 1)[0]}@{domain}" if domain else ""


def _claim(keys: list[str], member: Member, award_for) -> Award | None:
    """Pay a bonus once per key: None if one of the keys was claimed before (or concurrently),
    or the funder was short (then the IssuanceRefusal stays and nothing is claimed)."""
    if BonusClaim.objects.filter(key__in=keys).exists():
        return None
    try:
        with transaction.atomic():
            award = award_for()
            if award is not None:
                BonusClaim.objects.bulk_create(BonusClaim(key=key, member=member, award=award) for key in keys)
            return award
    except IntegrityError:
        return None


def _active_card_id(user) -> str | None:
    from cards.selectors import card_list

    card = card_list(holder=user, status="active").order_by("pk").first()
    return card.public_id if card is not None else None


def member_join(*, user, referral_code: str = "", now: datetime | None = None) -> Member:
    """The app's "join": make the member, pay the sign-up bonus and the referrer's bonus when
    due (see the module docstring). Joining again changes nothing; a bonus the budget could not
    pay (an IssuanceRefusal says so) is paid on a later join once it is topped up."""
    from rewards.services.earning import award_bonus_issue

    now = now or timezone.now()
    referral_code = (referral_code or "").strip().upper()
    member = member_get_or_create(user=user)
    with transaction.atomic():
        member = member_lock(pk=member.pk)
        program = program_settings_get()
        card_id = _active_card_id(user)
        if referral_code and member.referred_by_id is None:
            referrer = Member.objects.filter(referral_code=referral_code).first()
            if referrer is None:
                raise FieldError("referral_code", "no member has this referral code")
            if referrer.pk == member.pk:
                raise FieldError("referral_code", "you cannot refer yourself")
            if member.joined_at < now - timedelta(days=program.referral_window_days) or Award.objects.filter(
                member=member, kind=Award.Kind.PURCHASE
            ).exists():
                raise FieldError("referral_code", "referral codes are for new members only")
            member.referred_by = referrer
            member.save(update_fields=["referred_by"])
        if program.signup_bonus_points and card_id:
            email = _normalised_email(user.email)
            keys = [f"signup:member:{member.pk}", f"signup:card:{card_id}"] + ([f"signup:email:{email}"] if email else [])
            _claim(keys, member, lambda: award_bonus_issue(
                member=member, kind=Award.Kind.SIGNUP, idempotency_key=f"signup:{member.public_id}",
                points=program.signup_bonus_points, earned_at=now,
            ))
        if program.referral_bonus_points and card_id and member.referred_by_id:
            referrer = member_lock(pk=member.referred_by_id)
            paid = Award.objects.filter(member=referrer, kind=Award.Kind.REFERRAL).count()
            if paid < program.referral_cap_per_referrer:
                keys = [f"referral:member:{member.pk}", f"referral:card:{card_id}"]
                _claim(keys, member, lambda: award_bonus_issue(
                    member=referrer, kind=Award.Kind.REFERRAL, idempotency_key=f"referral:{member.public_id}",
                    points=program.referral_bonus_points, earned_at=now,
                ))
    return member


def member_tiers_recompute(*, now: datetime | None = None) -> int:
    """The scheduled task: each member's tier by their spend over the last
    REWARDS_TIER_WINDOW_DAYS (purchases that earned points, less clawed-back ones); returns how
    many members changed tier."""
    now = now or timezone.now()
    since = now - timedelta(days=settings.REWARDS_TIER_WINDOW_DAYS)
    tiers = list(Tier.objects.order_by("-min_spend_points"))
    spend = dict(
        Award.objects.filter(kind=Award.Kind.PURCHASE, created_at__gte=since, created_at__lte=now)
        .exclude(status__in=[Award.Status.CLAWED_BACK, Award.Status.REVERSED])
        .values("member_id")
        .annotate(total=Sum("purchase_msat"))
        .values_list("member_id", "total")
    )
    changed = 0
    rows = Member.objects.filter(Q(pk__in=spend.keys()) | Q(tier__isnull=False) | ~Q(tier_spend_msat=0))
    batch = []
    for member in rows.only("pk", "tier_id", "tier_spend_msat").iterator(chunk_size=2000):
        total = spend.get(member.pk, 0)
        tier = next((t for t in tiers if total >= t.min_spend_points * MSAT_PER_POINT), None)
        tier_id = tier.pk if tier else None
        if (member.tier_id, member.tier_spend_msat) != (tier_id, total):
            changed += member.tier_id != tier_id
            member.tier_id, member.tier_spend_msat, member.tier_updated_at = tier_id, total, now
            batch.append(member)
    Member.objects.bulk_update(batch, ["tier", "tier_spend_msat", "tier_updated_at"], batch_size=1000)
    return changed


def member_points_adjust(*, member: Member, points: int, reason: str, actor, now: datetime | None = None) -> Adjustment:
    """An operator adds (positive) or takes (negative) available points, with a reason.

    Added points come from the program budget as a lot that is available at once and expires
    like any points; taken points go back to the program budget, spent from the member's lots
    like a redemption. Never takes more than the member has (InsufficientFunds, nothing written).
    """
    if isinstance(points, bool) or not isinstance(points, int) or points == 0 or abs(points) > MAX_ADJUSTMENT_POINTS:
        raise FieldError("points", "a whole number of points, not zero")
    reason = (reason or "").strip()
    if not reason:
        raise FieldError("reason", "say why the points are adjusted")
    now = now or timezone.now()
    amount = points * MSAT_PER_POINT
    funder = program_funder_get_or_create()
    with transaction.atomic():
        member = member_lock(pk=member.pk)
        metadata = {"type": "reward", "action": "adjust", "reference": f"adjustment by {actor}", "actor": actor.pk}
        description = f"{points:+d} points adjusted by an operator: {reason}"[:500]
        lot = None
        if amount > 0:
            lot = Award(
                idempotency_key=f"adjustment:{secrets.token_hex(12)}",
                member=member,
                kind=Award.Kind.ADJUSTMENT,
                source=Award.Source.OPERATOR,
                amount_msat=amount,
                status=Award.Status.AVAILABLE,
                remaining_msat=amount,
                created_at=now,
                matures_at=now,
                matured_at=now,
                expires_at=award_expiry(earned_at=now),
                clawback_reason="",
                tier_multiplier=Decimal("1.00"),
            )
            txn = transaction_post(
                entries=[(funder.account, -amount), (member.available_account, amount)],
                idempotency_key=f"reward-{lot.idempotency_key}",
                description=description,
                metadata=metadata,
            )
            lot.earn_txn_id = txn.pk
            lot.save(force_insert=True)
            AwardPart.objects.create(award=lot, funder=funder, member=member, amount_msat=amount, created_at=now)
        else:
            try:
                txn = transaction_post(
                    entries=[(member.available_account, amount), (funder.account, -amount)],
                    idempotency_key=f"reward-adjustment:{secrets.token_hex(12)}",
                    description=description,
                    metadata=metadata,
                )
            except InsufficientFunds:
                raise InsufficientFunds(f"the member has fewer than {-points} available points", code="insufficient-points")
            award_lots_spend(member=member, amount_msat=-amount)
        adjustment = Adjustment(member=member, amount_msat=amount, reason=reason[:500], actor=actor, award=lot, txn_id=txn.pk, created_at=now)
        adjustment.full_clean(validate_unique=False, validate_constraints=False)
        adjustment.save()
    return adjustment
