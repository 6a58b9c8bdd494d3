"""Lifecycle: maturing after the hold period, clawback inside it, reversal, expiry, and the lots."""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from flashpay.errors import Conflict
from flashpay.ledger.models import Transaction
from flashpay.ledger.services import ledger_reconcile
from rewards.models import Award, Campaign
from rewards.selectors import member_lots_mismatch_list
from rewards.services.earning import Purchase, award_earn
from rewards.services.lifecycle import (
    add_months,
    award_clawback,
    award_reverse,
    awards_clawback,
    awards_expire,
    awards_mature,
)

from .factories import (
    SAT,
    balance_points,
    funded_rule,
    make_campaign,
    make_member,
    member_points,
    operator,
    program_funder,
)

pytestmark = pytest.mark.django_db


def earn(rule, member, sats=10_000, *, key="card-payment:h1", at=None, invoice_id=""):
    return award_earn(
        user_id=member.user_id,
        purchase=Purchase(
            source=Award.Source.CARD_PAYMENT, idempotency_key=key, store_id=rule.store_id, amount_msat=sats * SAT,
            occurred_at=at or timezone.now(), invoice_id=invoice_id,
        ),
    )


def test_points_mature_after_the_hold_period_and_not_before():
    rule = funded_rule(hold_days=3)
    member = make_member()
    award = earn(rule, member)
    assert awards_mature(now=award.created_at + timedelta(days=2)) == 0
    assert member_points(member) == (221, 0)
    assert awards_mature(now=award.created_at + timedelta(days=3, seconds=1)) == 1
    award.refresh_from_db()
    assert (award.status, award.remaining_msat) == ("available", 221 * SAT)
    assert member_points(member) == (0, 221)
    assert awards_mature(now=award.created_at + timedelta(days=4)) == 0  # a second run changes nothing
    assert Transaction.objects.filter(idempotency_key=f"reward-mature:{award.public_id}").count() == 1
    assert member_lots_mismatch_list() == [] and ledger_reconcile().ok


def test_the_default_hold_period_comes_from_the_settings(settings):
    settings.REWARDS_DEFAULT_HOLD_DAYS = 2
    award = earn(funded_rule(), make_member())
    assert award.matures_at == award.created_at + timedelta(days=2)


def test_a_clawback_inside_the_hold_period_returns_every_part_to_its_funder_and_budget():
    rule = funded_rule(points=10_000)
    program = program_funder(points=10_000)
    campaign = make_campaign(funder=program, bonus_points=50, budget_points=100)
    member = make_member()
    award = earn(rule, member, invoice_id="inv-9")
    assert award.points == 271
    # when the invoice is refunded inside the hold period
    [clawed] = awards_clawback(invoice_id="inv-9", reason="the purchase was refunded")
    # then the member's pending points are gone and each funder got its part back
    assert (clawed.status, clawed.clawback_reason) == ("clawed_back", "the purchase was refunded")
    assert member_points(member) == (0, 0)
    assert balance_points(rule.funder.account) == 10_000
    assert balance_points(program.account) == 10_000
    campaign.refresh_from_db()
    assert campaign.spent_msat == 0
    # and it never matures, and a second clawback changes nothing
    assert awards_mature(now=timezone.now() + timedelta(days=30)) == 0
    assert award_clawback(award=award, reason="again").clawback_reason == "the purchase was refunded"
    assert ledger_reconcile().ok and member_lots_mismatch_list() == []


def test_no_clawback_after_the_hold_period():
    rule = funded_rule()
    member = make_member()
    award = earn(rule, member)
    awards_mature(now=award.matures_at)
    award = award_clawback(award=award, reason="late refund")
    assert award.status == "available"
    assert member_points(member) == (0, 221)


def test_operator_reversal_of_an_available_award_takes_what_is_left():
    rule = funded_rule(points=10_000)
    member = make_member()
    award = earn(rule, member)
    awards_mature(now=award.matures_at)
    from rewards.services.members import member_points_adjust

    member_points_adjust(member=member, points=-21, reason="spent at the counter", actor=operator())
    award.refresh_from_db()
    assert award.remaining_msat == 200 * SAT
    reversed_award = award_reverse(award=award, actor=operator(), reason="fraudulent purchase")
    assert reversed_award.status == "reversed" and reversed_award.remaining_msat == 0
    assert "fraudulent purchase" in reversed_award.clawback_reason and reversed_award.reversed_by is not None
    assert member_points(member) == (0, 0)
    assert balance_points(rule.funder.account) == 10_000 - 221 + 200  # the 21 taken went to the program budget
    with pytest.raises(Conflict):
        award_reverse(award=reversed_award, actor=operator(), reason="twice")
    assert ledger_reconcile().ok and member_lots_mismatch_list() == []


def test_operator_reversal_of_a_pending_award_claws_it_back():
    rule = funded_rule()
    member = make_member()
    award = award_reverse(award=earn(rule, member), actor=operator(), reason="test purchase")
    assert award.status == "clawed_back" and member_points(member) == (0, 0)


def test_points_expire_after_the_configured_months_back_to_their_funders(settings):
    settings.REWARDS_EXPIRY_MONTHS = 12
    rule = funded_rule(points=10_000)
    program = program_funder(points=10_000)
    make_campaign(funder=program, effect=Campaign.Effect.MULTIPLIER, multiplier=Decimal("2"))
    member = make_member()
    award = earn(rule, member)  # 221 from the merchant + 221 from the program
    assert award.expires_at == add_months(award.created_at, 12)
    awards_mature(now=award.matures_at)
    assert awards_expire(now=award.expires_at - timedelta(seconds=1)) == 0
    assert awards_expire(now=award.expires_at) == 1
    award.refresh_from_db()
    assert (award.status, award.expired_msat, award.remaining_msat) == ("expired", 442 * SAT, 0)
    assert member_points(member) == (0, 0)
    assert balance_points(rule.funder.account) == 10_000 and balance_points(program.account) == 10_000
    assert ledger_reconcile().ok and member_lots_mismatch_list() == []


def test_no_expiry_when_the_period_is_zero(settings):
    settings.REWARDS_EXPIRY_MONTHS = 0
    award = earn(funded_rule(), make_member())
    assert award.expires_at is None
    awards_mature(now=award.matures_at)
    assert awards_expire(now=timezone.now() + timedelta(days=3650)) == 0


def test_add_months_keeps_the_day_or_takes_the_months_last():
    moment = timezone.now().replace(year=2024, month=1, day=31)
    assert add_months(moment, 1).date().isoformat() == "2024-02-29"
    assert add_months(moment, 12).date().isoformat() == "2025-01-31"
