"""Earning: the rule's maths, tiers, the campaign stacking rule, caps, schedules and funding."""
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from flashpay.ledger.models import Transaction
from flashpay.ledger.services import ledger_reconcile
from rewards.models import Award, AwardPart, Campaign, IssuanceRefusal, Tier
from rewards.selectors import member_lots_mismatch_list
from rewards.services.campaigns import campaign_pause
from rewards.services.earning import Purchase, award_earn, reward_base_points
from tests.factories import UserFactory

from .factories import (
    SAT,
    balance_points,
    funded_rule,
    make_campaign,
    make_member,
    make_rule,
    member_points,
    program_funder,
)

pytestmark = pytest.mark.django_db


def card_purchase(rule, sats: int, *, key: str = "card-payment:h1", at=None) -> Purchase:
    return Purchase(
        source=Award.Source.CARD_PAYMENT, idempotency_key=key, store_id=rule.store_id,
        amount_msat=sats * SAT, occurred_at=at or timezone.now(), payment_hash=key.split(":")[-1],
    )


def invoice_purchase(rule, sats: int, *, key: str = "invoice:i1", at=None) -> Purchase:
    return Purchase(
        source=Award.Source.INVOICE, idempotency_key=key, store_id=rule.store_id,
        amount_msat=sats * SAT, occurred_at=at or timezone.now(), invoice_id=key.split(":")[-1],
    )


@pytest.mark.parametrize(
    ("sats", "card", "expected"),
    [
        (10_000, False, 200),  # 2 % of 10,000 sats
        (10_000, True, 221),  # plus the 21-point tap reward
        (10, False, 5),  # 0.2 points, raised to the minimum of 5
        (1_000_000, False, 1_000),  # 20,000 points, held to the maximum of 1,000
        (1_000_000, True, 1_021),  # the tap reward comes on top of the maximum
        (12_345, False, 246),  # 246.9 rounded down
    ],
)
def test_base_points_follow_rate_min_max_and_tap(sats, card, expected):
    rule = make_rule(min_points=5, max_points=1_000)
    assert reward_base_points(rule=rule, amount_msat=sats * SAT, card_payment=card) == expected


def test_a_card_purchase_moves_points_from_the_merchants_funding_to_pending():
    # given a merchant whose funding account holds 100,000 sats
    rule = funded_rule(points=100_000)
    member = make_member()
    # when the member pays 10,000 sats with their card
    award = award_earn(user_id=member.user_id, purchase=card_purchase(rule, 10_000))
    # then 221 points are pending, paid by the merchant, for the hold period
    assert (award.points, award.status, award.kind) == (221, "pending", "purchase")
    assert member_points(member) == (221, 0)
    assert balance_points(rule.funder.account) == 100_000 - 221
    assert award.matures_at == award.created_at + timedelta(days=7)
    assert award.expires_at.year == award.created_at.year + 1
    txn = Transaction.objects.get(pk=award.earn_txn_id)
    assert txn.idempotency_key == "reward-earn:card-payment:h1"
    assert txn.metadata["type"] == "reward" and txn.metadata["action"] == "earn"
    assert ledger_reconcile().ok and member_lots_mismatch_list() == []


def test_the_same_purchase_twice_awards_once():
    rule = funded_rule()
    member = make_member()
    first = award_earn(user_id=member.user_id, purchase=card_purchase(rule, 10_000))
    second = award_earn(user_id=member.user_id, purchase=card_purchase(rule, 10_000))
    assert first.pk == second.pk
    assert Award.objects.count() == 1
    assert member_points(member) == (221, 0)


def test_rule_switches_and_triggers():
    rule = funded_rule(earn_on_card_payment=False)
    member = make_member()
    assert award_earn(user_id=member.user_id, purchase=card_purchase(rule, 10_000)) is None
    assert award_earn(user_id=member.user_id, purchase=invoice_purchase(rule, 10_000)).points == 200
    rule.enabled = False
    rule.save()
    assert award_earn(user_id=member.user_id, purchase=invoice_purchase(rule, 10_000, key="invoice:i2")) is None
    # a store without a rule earns nothing
    other = make_rule()
    other.delete()
    assert award_earn(user_id=member.user_id, purchase=card_purchase(other, 10_000, key="card-payment:x")) is None


def test_a_new_user_becomes_a_member_with_two_accounts():
    rule = funded_rule()
    user = UserFactory()
    award = award_earn(user_id=user.pk, purchase=card_purchase(rule, 1_000))
    member = award.member
    assert member.user_id == user.pk
    assert member.pending_account.kind == "member" and member.available_account.kind == "member"
    assert member.pending_account.reference == f"{member.public_id}:pending"


def test_the_tier_multiplier_scales_the_base():
    rule = funded_rule()
    gold = Tier.objects.create(name="Gold", min_spend_points=0, multiplier=Decimal("1.50"))
    member = make_member()
    member.tier = gold
    member.save()
    award = award_earn(user_id=member.user_id, purchase=card_purchase(rule, 10_000))
    assert award.points == 331  # 221 x 1.5 = 331.5, rounded down
    assert (award.base_msat, award.tier_multiplier) == (331 * SAT, Decimal("1.50"))


def test_stacking_best_multiplier_only_plus_every_bonus():
    # given two multiplier campaigns and two bonus campaigns on the same purchase
    rule = funded_rule()
    program = program_funder(points=1_000_000)
    double = make_campaign(funder=program, effect=Campaign.Effect.MULTIPLIER, multiplier=Decimal("2"))
    triple = make_campaign(funder=program, effect=Campaign.Effect.MULTIPLIER, multiplier=Decimal("3"))
    bonus_a = make_campaign(funder=program, bonus_points=50)
    bonus_b = make_campaign(funder=program, bonus_points=10)
    member = make_member()
    # when
    award = award_earn(user_id=member.user_id, purchase=card_purchase(rule, 10_000))
    # then base 221 + 221 x (3 - 1) from the best multiplier only + 50 + 10
    assert award.points == 221 + 442 + 50 + 10
    parts = {part.campaign_id: part.amount_msat // SAT for part in award.parts.all()}
    assert parts == {None: 221, triple.pk: 442, bonus_a.pk: 50, bonus_b.pk: 10}
    double.refresh_from_db()
    triple.refresh_from_db()
    assert (double.spent_msat, triple.spent_msat) == (0, 442 * SAT)
    # the campaign parts are paid by their funder, the base by the merchant
    assert balance_points(program.account) == 1_000_000 - 502
    assert balance_points(rule.funder.account) == 1_000_000 - 221


def test_an_exhausted_multiplier_falls_back_to_the_next_best_and_budgets_trim():
    rule = funded_rule()
    program = program_funder(points=1_000_000)
    triple = make_campaign(funder=program, effect=Campaign.Effect.MULTIPLIER, multiplier=Decimal("3"), budget_points=0)
    double = make_campaign(funder=program, effect=Campaign.Effect.MULTIPLIER, multiplier=Decimal("2"))
    bonus = make_campaign(funder=program, bonus_points=50, budget_points=30)
    member = make_member()
    award = award_earn(user_id=member.user_id, purchase=card_purchase(rule, 10_000))
    parts = {part.campaign_id: part.amount_msat // SAT for part in award.parts.all()}
    assert parts == {None: 221, double.pk: 221, bonus.pk: 30}
    triple.refresh_from_db()
    bonus.refresh_from_db()
    assert triple.spent_msat == 0 and bonus.spent_msat == 30 * SAT


def test_campaign_conditions_merchants_minimum_trigger_and_state():
    rule = funded_rule()
    other_rule = funded_rule()
    program = program_funder(points=1_000_000)
    only_other = make_campaign(funder=program, stores=[other_rule.store])
    big_only = make_campaign(funder=program, min_purchase_msat=50_000 * SAT)
    invoices_only = make_campaign(funder=program, on_card_payment=False)
    paused = make_campaign(funder=program)
    campaign_pause(campaign=paused)
    draft = make_campaign(funder=program, activate=False)
    here = make_campaign(funder=program, stores=[rule.store], bonus_points=7)
    member = make_member()
    award = award_earn(user_id=member.user_id, purchase=card_purchase(rule, 10_000))
    assert {p.campaign_id for p in award.parts.all()} == {None, here.pk}
    assert all(c.pk != here.pk for c in (only_other, big_only, invoices_only, paused, draft))
    invoice_award = award_earn(user_id=member.user_id, purchase=invoice_purchase(rule, 60_000))
    assert {p.campaign_id for p in invoice_award.parts.all()} == {None, big_only.pk, invoices_only.pk, here.pk}


def test_schedule_days_hours_and_time_zone():
    rule = funded_rule()
    program = program_funder(points=1_000_000)
    # Saturdays and Sundays, 18:00-22:00 in Jamaica (UTC-5, no daylight saving)
    weekend_evening = make_campaign(
        funder=program, days_of_week="56", hour_from=18, hour_to=22, time_zone="America/Jamaica",
        starts_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    member = make_member()
    saturday_8pm_jamaica = datetime(2024, 6, 2, 1, 0, tzinfo=UTC)  # Sat 1 June, 20:00 in Kingston
    saturday_8pm_utc = datetime(2024, 6, 1, 20, 0, tzinfo=UTC)  # Sat 15:00 in Kingston
    friday_8pm_jamaica = datetime(2024, 6, 1, 1, 0, tzinfo=UTC)  # Fri 31 May, 20:00 in Kingston
    inside = award_earn(user_id=member.user_id, purchase=card_purchase(rule, 1_000, key="card-payment:a", at=saturday_8pm_jamaica))
    outside = award_earn(user_id=member.user_id, purchase=card_purchase(rule, 1_000, key="card-payment:b", at=saturday_8pm_utc))
    friday = award_earn(user_id=member.user_id, purchase=card_purchase(rule, 1_000, key="card-payment:c", at=friday_8pm_jamaica))
    assert {p.campaign_id for p in inside.parts.all()} == {None, weekend_evening.pk}
    assert {p.campaign_id for p in outside.parts.all()} == {None}
    assert {p.campaign_id for p in friday.parts.all()} == {None}


def test_caps_per_member_per_day_and_in_total():
    rule = funded_rule()
    program = program_funder(points=1_000_000)
    campaign = make_campaign(funder=program, bonus_points=50, cap_day_points=80, cap_total_points=120)
    member, other = make_member(), make_member()
    day1 = timezone.now()
    got = [
        award_earn(user_id=member.user_id, purchase=card_purchase(rule, 1_000, key=f"card-payment:d1-{n}", at=day1 + timedelta(seconds=n)))
        for n in range(3)
    ]
    assert [sum(p.amount_msat for p in a.parts.all() if p.campaign_id) // SAT for a in got] == [50, 30, 0]
    day2 = day1 + timedelta(days=1)
    later = award_earn(user_id=member.user_id, purchase=card_purchase(rule, 1_000, key="card-payment:d2", at=day2))
    assert sum(p.amount_msat for p in later.parts.all() if p.campaign_id) // SAT == 40  # total cap 120
    # another member has caps of their own
    theirs = award_earn(user_id=other.user_id, purchase=card_purchase(rule, 1_000, key="card-payment:o", at=day2))
    assert sum(p.amount_msat for p in theirs.parts.all() if p.campaign_id) // SAT == 50
    campaign.refresh_from_db()
    assert campaign.spent_msat == 170 * SAT


def test_segments_new_and_inactive_members():
    rule = funded_rule()
    program = program_funder(points=1_000_000)
    newcomers = make_campaign(funder=program, segment=Campaign.Segment.NEW, segment_days=30, bonus_points=11)
    win_back = make_campaign(funder=program, segment=Campaign.Segment.INACTIVE, segment_days=60, bonus_points=22)
    fresh = make_member()
    old = make_member()
    old.joined_at = timezone.now() - timedelta(days=400)
    old.save()
    now = timezone.now()
    # an old member's first purchase in a long time (their last one was 90 days ago)
    award_earn(user_id=old.user_id, purchase=card_purchase(rule, 1_000, key="card-payment:long-ago", at=now - timedelta(days=90)))
    back = award_earn(user_id=old.user_id, purchase=card_purchase(rule, 1_000, key="card-payment:back", at=now))
    again = award_earn(user_id=old.user_id, purchase=card_purchase(rule, 1_000, key="card-payment:again", at=now + timedelta(hours=1)))
    first = award_earn(user_id=fresh.user_id, purchase=card_purchase(rule, 1_000, key="card-payment:fresh", at=now))
    assert {p.campaign_id for p in back.parts.all()} == {None, win_back.pk}
    assert {p.campaign_id for p in again.parts.all()} == {None}
    assert {p.campaign_id for p in first.parts.all()} == {None, newcomers.pk}


def test_an_empty_merchant_funding_account_stops_issuance_with_a_reason():
    # given a merchant that topped up 100 sats only, and a campaign paid by the program
    rule = funded_rule(points=100)
    campaign = make_campaign(funder=program_funder(points=1_000))
    member = make_member()
    # when a purchase would need 221 points from the merchant
    award = award_earn(user_id=member.user_id, purchase=card_purchase(rule, 10_000))
    # then nothing is issued, nothing goes negative, the campaign's budget is untouched
    assert award is None
    assert Award.objects.count() == 0 and AwardPart.objects.count() == 0
    assert member_points(member) == (0, 0)
    assert balance_points(rule.funder.account) == 100
    campaign.refresh_from_db()
    assert campaign.spent_msat == 0
    refusal = IssuanceRefusal.objects.get()
    assert refusal.funder == rule.funder and refusal.wanted_msat == 221 * SAT
    assert "has 100 sats available, 221 needed" in refusal.reason
    # and a replay after a top-up issues it
    from .factories import top_up

    top_up(rule.funder, 1_000)
    assert award_earn(user_id=member.user_id, purchase=card_purchase(rule, 10_000)).points == 271


def test_an_empty_campaign_funder_drops_only_the_campaign_part():
    rule = funded_rule()
    empty = program_funder(points=0)
    campaign = make_campaign(funder=empty, bonus_points=50)
    member = make_member()
    award = award_earn(user_id=member.user_id, purchase=card_purchase(rule, 10_000))
    assert award.points == 221
    assert [p.campaign_id for p in award.parts.all()] == [None]
    campaign.refresh_from_db()
    assert campaign.spent_msat == 0  # the reservation was released
    refusal = IssuanceRefusal.objects.get()
    assert refusal.campaign == campaign and refusal.wanted_msat == 50 * SAT
    assert balance_points(empty.account) == 0


def test_program_funded_rule():
    rule = make_rule(funding_source="program")
    program = program_funder(points=500)
    assert rule.funder == program
    award = award_earn(user_id=make_member().user_id, purchase=card_purchase(rule, 10_000))
    assert award.points == 221 and balance_points(program.account) == 279
