"""Members: joining with sign-up and referral bonuses and their abuse limits, tiers, adjustments."""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from flashpay.errors import FieldError, InsufficientFunds
from rewards.models import Adjustment, Award, IssuanceRefusal, ProgramSettings, Tier
from rewards.services.earning import Purchase, award_earn
from rewards.services.members import member_join, member_points_adjust, member_tiers_recompute
from tests.cards.factories import make_programmed_card
from tests.factories import UserFactory

from .factories import (
    SAT,
    balance_points,
    funded_rule,
    make_member,
    member_points,
    operator,
    program_funder,
)

pytestmark = pytest.mark.django_db

_uids = iter(f"04A394{n:08X}" for n in range(10_000))


def cardholder(**user_fields):
    user = UserFactory(**user_fields)
    make_programmed_card(holder=user, uid=next(_uids))
    return user


@pytest.fixture
def bonuses():
    program_funder(points=100_000)
    ProgramSettings.objects.update_or_create(
        pk=1, defaults={"signup_bonus_points": 100, "referral_bonus_points": 50, "referral_cap_per_referrer": 2}
    )


def test_bonuses_are_off_by_default():
    program_funder(points=100_000)
    member = member_join(user=cardholder())
    assert Award.objects.filter(member=member).count() == 0


def test_the_sign_up_bonus_is_paid_once_to_a_cardholder(bonuses):
    user = cardholder()
    member = member_join(user=user)
    member_join(user=user)
    assert member_points(member) == (100, 0)
    award = Award.objects.get(member=member)
    assert (award.kind, award.source, award.points) == ("signup", "bonus", 100)
    # an app user without an active card gets none (the card is the scarce thing)
    no_card = member_join(user=UserFactory())
    assert member_points(no_card) == (0, 0)


def test_one_sign_up_bonus_per_email_address(bonuses):
    member_join(user=cardholder(email="ann@example.com"))
    # the same mailbox with a "+tag" (a user whose e-mail was changed, say) gets none
    second = member_join(user=cardholder(email="Ann+two@example.com"))
    assert member_points(second) == (0, 0)


def test_one_sign_up_bonus_per_card(bonuses):
    from cards.models import Card

    first_user = cardholder()
    first = member_join(user=first_user)
    card = Card.objects.get(holder=first_user)
    # the card passes to another user (canceled holder link, say): no second bonus for it
    Card.objects.filter(pk=card.pk).update(holder=UserFactory())
    second = member_join(user=Card.objects.get(pk=card.pk).holder)
    assert member_points(first) == (100, 0) and member_points(second) == (0, 0)


def test_referrals_pay_the_referrer_up_to_the_cap(bonuses):
    referrer = member_join(user=cardholder())
    for _ in range(3):
        member_join(user=cardholder(), referral_code=referrer.referral_code)
    referral_awards = Award.objects.filter(member=referrer, kind="referral")
    assert referral_awards.count() == 2  # the cap
    assert member_points(referrer) == (100 + 2 * 50, 0)


def test_referral_abuse_is_refused(bonuses):
    referrer = member_join(user=cardholder())
    with pytest.raises(FieldError):
        member_join(user=referrer.user, referral_code=referrer.referral_code)  # oneself
    with pytest.raises(FieldError):
        member_join(user=cardholder(), referral_code="NOSUCH")
    # an old member cannot name a referrer after the fact
    old = member_join(user=cardholder())
    old.joined_at = timezone.now() - timedelta(days=60)
    old.save()
    with pytest.raises(FieldError):
        member_join(user=old.user, referral_code=referrer.referral_code)
    assert Award.objects.filter(kind="referral").count() == 0


def test_an_empty_program_budget_refuses_the_bonus_with_a_reason_and_pays_it_later():
    ProgramSettings.objects.update_or_create(pk=1, defaults={"signup_bonus_points": 100})
    program = program_funder(points=10)
    user = cardholder()
    member = member_join(user=user)
    assert member_points(member) == (0, 0)
    assert "100 needed" in IssuanceRefusal.objects.get().reason
    from .factories import top_up

    top_up(program, 1_000)
    member_join(user=user)
    assert member_points(member) == (100, 0)


def test_tiers_follow_the_spend_of_the_window(settings):
    settings.REWARDS_TIER_WINDOW_DAYS = 90
    silver = Tier.objects.create(name="Silver", min_spend_points=50_000, multiplier=Decimal("1.25"))
    gold = Tier.objects.create(name="Gold", min_spend_points=200_000, multiplier=Decimal("1.5"))
    rule = funded_rule(points=10_000_000)
    big, small, old = make_member(), make_member(), make_member()
    now = timezone.now()

    def spend(member, sats, at, key):
        award_earn(user_id=member.user_id, purchase=Purchase(
            source="card_payment", idempotency_key=key, store_id=rule.store_id, amount_msat=sats * SAT, occurred_at=at,
        ))

    spend(big, 150_000, now - timedelta(days=10), "a")
    spend(big, 60_000, now - timedelta(days=80), "b")
    spend(small, 60_000, now - timedelta(days=1), "c")
    spend(old, 500_000, now - timedelta(days=100), "d")
    assert member_tiers_recompute(now=now) == 2
    for member in (big, small, old):
        member.refresh_from_db()
    assert (big.tier, small.tier, old.tier) == (gold, silver, None)
    assert big.tier_spend_msat == 210_000 * SAT
    assert member_tiers_recompute(now=now) == 0
    # 30 days on, the big spender's older purchase has left the window
    assert member_tiers_recompute(now=now + timedelta(days=30)) == 1
    big.refresh_from_db()
    assert big.tier == silver


def test_adjustments_record_who_and_why_and_never_overdraw():
    program = program_funder(points=1_000)
    admin = operator()
    member = make_member()
    added = member_points_adjust(member=member, points=300, reason="service recovery", actor=admin)
    assert (added.amount_msat, added.actor, added.award.status) == (300 * SAT, admin, "available")
    assert member_points(member) == (0, 300) and balance_points(program.account) == 700
    with pytest.raises(InsufficientFunds):
        member_points_adjust(member=member, points=-301, reason="too much", actor=admin)
    with pytest.raises(FieldError):
        member_points_adjust(member=member, points=10, reason="  ", actor=admin)
    member_points_adjust(member=member, points=-100, reason="duplicate credit", actor=admin)
    assert member_points(member) == (0, 200) and Adjustment.objects.count() == 2
