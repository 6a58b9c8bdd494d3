"""Earning: merchants' earning rules and the award of points for a purchase.

How many points a purchase earns (the stacking rule, also in README "Rewards"):

1. Base = the rule's rate x the amount in sats, rounded down, then held between the rule's
   minimum and maximum; a Flash Card payment adds the rule's fixed tap reward on top.
2. The base is multiplied by the member's tier multiplier (rounded down): the rule's funder
   (the merchant's funding account or the program budget) pays this part.
3. Campaigns add to it (rewards.services.campaigns.campaigns_grant): the single best multiplier
   campaign adds base x (multiplier - 1), every bonus campaign adds its bonus, each trimmed to
   its own budget and the member's caps, each paid by the campaign's funder.

All of it is ONE ledger transaction from the funders to the member's pending points, keyed by
the source event (``reward-earn:card-payment:<hash>`` / ``reward-earn:invoice:<id>``), and one
``Award`` row with a part per funder and campaign: a replayed event finds the award and does
nothing. If the rule's funder cannot pay the base, nothing is issued; if a campaign's funder
cannot pay its grant, that grant is dropped (its budget released); either way an
``IssuanceRefusal`` records why, and no account goes negative.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from flashpay.errors import FieldError, InsufficientFunds
from flashpay.ledger.models import Account
from flashpay.ledger.services import transaction_post
from rewards import sql
from rewards.models import MSAT_PER_POINT, Award, AwardPart, EarningRule, FundingAccount, Member
from rewards.services.campaigns import (
    Grant,
    Trigger,
    campaign_candidate_list,
    campaign_grant_release,
    campaigns_grant,
)
from rewards.services.funding import (
    issuance_refusal_record,
    merchant_funder_get_or_create,
    program_funder_get_or_create,
)
from rewards.services.lifecycle import award_expiry

logger = logging.getLogger(__name__)


# --- rules ---------------------------------------------------------------------------------------


def earning_rule_save(*, rule: EarningRule) -> EarningRule:
    """Create or update a store's earning rule; its funder follows ``funding_source``."""
    if rule.funding_source == EarningRule.FundingSource.PROGRAM:
        rule.funder = program_funder_get_or_create()
    else:
        rule.funder = merchant_funder_get_or_create(store=rule.store)
    rule.updated_at = timezone.now()
    rule.full_clean()
    rule.save()
    return rule


def rule_hold_days(rule: EarningRule) -> int:
    return settings.REWARDS_DEFAULT_HOLD_DAYS if rule.hold_days is None else rule.hold_days


def reward_base_points(*, rule: EarningRule, amount_msat: int, card_payment: bool) -> int:
    """Step 1 of the stacking rule: rate x amount, held between min and max, plus the tap reward."""
    sats = Decimal(amount_msat // MSAT_PER_POINT)
    points = int((sats * rule.rate_percent / 100).to_integral_value(rounding=ROUND_DOWN))
    points = max(points, rule.min_points)
    if rule.max_points is not None:
        points = min(points, rule.max_points)
    if card_payment:
        points += rule.tap_points
    return points


def tiered_points(*, points: int, multiplier: Decimal) -> int:
    """Step 2: the tier multiplier, rounded down to whole points."""
    return int((Decimal(points) * multiplier).to_integral_value(rounding=ROUND_DOWN))


# --- issuing -----------------------------------------------------------------------------------


@dataclass
class PartPlan:
    funder: FundingAccount
    amount_msat: int
    grant: Grant | None = None


def _ledger_entries(member: Member, parts: list[PartPlan]) -> list[tuple[Account, int]]:
    by_account: dict[int, int] = {}
    for part in parts:
        account_id = part.funder.account_id
        by_account[account_id] = by_account.get(account_id, 0) + part.amount_msat
    total = sum(by_account.values())
    return [*((sql.ledger_account(pk), -msat) for pk, msat in sorted(by_account.items())), (member.pending_account, total)]


def _short_funders(parts: list[PartPlan]) -> set[int]:
    """The funders (by pk) whose available balance is below what these parts ask of them."""
    needed: dict[int, int] = {}
    for part in parts:
        needed[part.funder.pk] = needed.get(part.funder.pk, 0) + part.amount_msat
    available = {
        pk: posted - pending
        for pk, posted, pending in Account.objects.filter(pk__in=[p.funder.account_id for p in parts]).values_list(
            "pk", "posted_msat", "pending_debit_msat"
        )
    }
    account_of = {p.funder.pk: p.funder.account_id for p in parts}
    return {funder_id for funder_id, msat in needed.items() if available[account_of[funder_id]] < msat}


def award_issue(
    *,
    member: Member,
    idempotency_key: str,
    kind: str,
    source: str,
    parts: list[PartPlan],
    earned_at: datetime,
    hold_days: int,
    description: str,
    store=None,
    store_id: str = "",
    invoice_id: str = "",
    payment_hash: str = "",
    purchase_msat: int = 0,
    base_msat: int = 0,
    tier_multiplier: Decimal = Decimal("1.00"),
) -> Award | None:
    """Post the parts from their funders to the member's pending points and write the award.

    The caller holds the member's lock (and the campaigns' of the grants) in its transaction.
    A part whose funder is short is dropped (its campaign grant released) and recorded as an
    ``IssuanceRefusal``; if the first part (the base) is short nothing is issued and None is
    returned. Parts of zero points are left out; with none left, None.
    """
    parts = [p for p in parts if p.amount_msat > 0]
    store_id = store_id or (store.pk if store is not None else "")
    while parts:
        try:
            txn = transaction_post(
                entries=_ledger_entries(member, parts),
                idempotency_key=f"reward-earn:{idempotency_key}"[:200],
                description=description[:500],
                metadata={"type": "reward", "action": "earn", "reference": idempotency_key[:200], "store": store_id},
            )
            break
        except InsufficientFunds:
            short = _short_funders(parts)
            if not short:
                raise  # the balance moved back meanwhile: let the delivery retry
            base_short = parts[0].grant is None and parts[0].funder.pk in short
            for part in parts:
                if part.funder.pk in short and (base_short or part.grant is not None):
                    issuance_refusal_record(
                        key=f"{idempotency_key}:{part.grant.campaign.pk if part.grant else 'base'}",
                        funder=part.funder,
                        wanted_msat=part.amount_msat,
                        campaign=part.grant.campaign if part.grant else None,
                        member=member,
                        store_id=store_id,
                    )
            if base_short:
                for part in parts:
                    if part.grant is not None:
                        campaign_grant_release(grant=part.grant)
                return None
            for part in parts:
                if part.grant is not None and part.funder.pk in short:
                    campaign_grant_release(grant=part.grant)
            parts = [p for p in parts if not (p.grant is not None and p.funder.pk in short)]
    else:
        return None
    total = sum(p.amount_msat for p in parts)
    award = Award(
        idempotency_key=idempotency_key,
        member=member,
        kind=kind,
        source=source,
        store_id=store_id or None,
        invoice_id=invoice_id,
        payment_hash=payment_hash,
        purchase_msat=purchase_msat,
        amount_msat=total,
        base_msat=base_msat,
        tier_multiplier=tier_multiplier,
        created_at=earned_at,
        matures_at=earned_at + timedelta(days=hold_days),
        expires_at=award_expiry(earned_at=earned_at),
        earn_txn_id=txn.pk,
    )
    sql.INSERT_AWARD.execute([award])
    sql.INSERT_AWARD_PARTS.execute(
        AwardPart(
            award=award,
            campaign=part.grant.campaign if part.grant else None,
            funder=part.funder,
            member=member,
            amount_msat=part.amount_msat,
            created_at=earned_at,
        )
        for part in parts
    )
    return award


@dataclass(frozen=True)
class Purchase:
    """A sale that may earn points: what was paid, where, by whom and when."""

    source: str  # Award.Source.CARD_PAYMENT or Award.Source.INVOICE
    idempotency_key: str  # "card-payment:<payment hash>" or "invoice:<invoice id>"
    store_id: str
    amount_msat: int
    occurred_at: datetime
    invoice_id: str = ""
    payment_hash: str = ""


def _rule_for(store_id: str) -> EarningRule | None:
    return sql.RULE_BY_STORE.first([store_id])


def _attach_invoice(award: Award, invoice_id: str) -> Award:
    if invoice_id and not award.invoice_id:
        Award.objects.filter(pk=award.pk, invoice_id="").update(invoice_id=invoice_id)
        award.invoice_id = invoice_id
    return award


def award_earn(*, user_id: int, purchase: Purchase) -> Award | None:
    """Award the points a purchase earns (see the module docstring); None if it earns none.

    Idempotent by ``purchase.idempotency_key``: the award already made for it is returned (and
    learns the purchase's invoice if it did not know it yet). The member's row lock orders it
    after any other delivery of the same purchase (its card payment's and its invoice's events).
    """
    if purchase.amount_msat <= 0:
        return None
    rule = _rule_for(purchase.store_id)
    card_payment = purchase.source == Award.Source.CARD_PAYMENT
    if rule is None or not rule.enabled or not (rule.earn_on_card_payment if card_payment else rule.earn_on_invoice):
        existing = sql.AWARD_BY_KEY.first([purchase.idempotency_key])
        return _attach_invoice(existing, purchase.invoice_id) if existing is not None else None
    from rewards.services.members import member_get_or_create_for_user_id

    # No savepoint inside a caller's transaction (the outbox delivery's): a failure here fails
    # the whole delivery, which is retried; the ledger keeps its own savepoint for its replays.
    with transaction.atomic(savepoint=False):
        member = sql.member_by_user_for_update(user_id)
        if member is None:
            member_get_or_create_for_user_id(user_id=user_id)
            member = sql.member_by_user_for_update(user_id)
        existing = sql.AWARD_BY_KEY.first([purchase.idempotency_key])
        if existing is not None:
            return _attach_invoice(existing, purchase.invoice_id)
        multiplier = member.tier.multiplier if member.tier_id else Decimal("1.00")
        base = tiered_points(
            points=reward_base_points(rule=rule, amount_msat=purchase.amount_msat, card_payment=card_payment),
            multiplier=multiplier,
        )
        base_msat = base * MSAT_PER_POINT
        candidates = campaign_candidate_list(
            trigger=Trigger(
                on_card_payment=card_payment, store_id=purchase.store_id, amount_msat=purchase.amount_msat, at=purchase.occurred_at
            )
        )
        grants = campaigns_grant(member=member, candidates=candidates, base_msat=base_msat, at=purchase.occurred_at)
        parts = [PartPlan(funder=rule.funder, amount_msat=base_msat)]
        parts += [PartPlan(funder=grant.funder, amount_msat=grant.amount_msat, grant=grant) for grant in grants]
        return award_issue(
            member=member,
            idempotency_key=purchase.idempotency_key,
            kind=Award.Kind.PURCHASE,
            source=purchase.source,
            parts=parts,
            earned_at=purchase.occurred_at,
            hold_days=rule_hold_days(rule),
            description=f"Points for a purchase at {rule.store.name}",
            store=rule.store,
            invoice_id=purchase.invoice_id,
            payment_hash=purchase.payment_hash,
            purchase_msat=purchase.amount_msat,
            base_msat=base_msat,
            tier_multiplier=multiplier,
        )


# --- the sources --------------------------------------------------------------------------------


def award_earn_for_card_payment(
    *, payment_hash: str, holder_id: int | None, store_id: str | None, amount_msat: int, occurred_at: datetime, invoice_id: str = ""
) -> Award | None:
    """A Flash Card paid a FlashPay merchant: its holder earns (cards' ``CardPaymentSucceeded``,
    or the invoices app's ``InvoicePaymentSettled`` when the merchant was known only then)."""
    if not payment_hash or not holder_id or not store_id:
        return None
    return award_earn(
        user_id=holder_id,
        purchase=Purchase(
            source=Award.Source.CARD_PAYMENT,
            idempotency_key=f"card-payment:{payment_hash}",
            store_id=store_id,
            amount_msat=amount_msat,
            occurred_at=occurred_at,
            invoice_id=invoice_id,
            payment_hash=payment_hash,
        ),
    )


MEMBER_ID_METADATA_KEY = "flashMemberId"


def award_earn_for_invoice(*, invoice_id: str, occurred_at: datetime) -> Award | None:
    """A settled invoice earns for the member it names (metadata ``flashMemberId``, or
    ``buyerEmail`` matching a member's e-mail, or a Flash Card holder's).

    Not for top-up invoices, and not for an invoice a Flash Card paid: that purchase earns
    through the card payment, once. The amount is what was paid and settled, at most what was
    asked (an invoice marked settled by hand: what was asked).
    """
    from cards.selectors import card_payment_hashes_paid
    from invoices.selectors import invoice_get, invoice_paid

    invoice = invoice_get(invoice_id=invoice_id)
    if invoice.type == "TopUp" or invoice.status != "Settled":
        return None
    rule = _rule_for(invoice.store_id)
    if rule is None or not rule.enabled or not rule.earn_on_invoice:
        return None
    from rewards.selectors import invoice_member_user_id

    user_id = invoice_member_user_id(metadata=invoice.metadata or {})
    if user_id is None:
        return None
    payments = list(invoice.payments.all())
    if card_payment_hashes_paid(payment_hashes=[p.payment_id for p in payments if p.payment_method_id == "BTC-LN"]):
        return None
    if invoice.additional_status == "Marked":
        amount = invoice.amount_msat or 0
    else:
        amount = invoice_paid(invoice=invoice, payments=payments).settled_msat
        if invoice.amount_msat is not None:
            amount = min(amount, invoice.amount_msat)
    return award_earn(
        user_id=user_id,
        purchase=Purchase(
            source=Award.Source.INVOICE,
            idempotency_key=f"invoice:{invoice.pk}",
            store_id=invoice.store_id,
            amount_msat=amount,
            occurred_at=occurred_at,
            invoice_id=invoice.pk,
        ),
    )


def award_bonus_issue(
    *, member: Member, kind: str, idempotency_key: str, points: int, earned_at: datetime | None = None
) -> Award | None:
    """A program bonus (sign-up, referral) paid by the program budget, pending for the default
    hold period like any award. The caller holds the member's lock. None if the budget is short."""
    if points <= 0:
        raise FieldError("points", "a bonus is at least 1 point")
    existing = Award.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    label = "Sign-up bonus" if kind == Award.Kind.SIGNUP else "Referral bonus"
    return award_issue(
        member=member,
        idempotency_key=idempotency_key,
        kind=kind,
        source=Award.Source.BONUS,
        parts=[PartPlan(funder=program_funder_get_or_create(), amount_msat=points * MSAT_PER_POINT)],
        earned_at=earned_at or timezone.now(),
        hold_days=settings.REWARDS_DEFAULT_HOLD_DAYS,
        description=f"{label}: {points} points",
    )
