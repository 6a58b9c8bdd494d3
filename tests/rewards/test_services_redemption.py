"""Redemption: points onto the member's Flash Card, or for catalog items with stock and codes."""
from datetime import timedelta

import pytest
from django.utils import timezone

from cards import selectors as card_selectors
from cards.services.cards import card_freeze
from flashpay.errors import Conflict, NotFound
from flashpay.ledger.models import Transaction
from flashpay.ledger.services import ledger_reconcile
from rewards.models import Award, CatalogItem, Redemption
from rewards.selectors import member_lots_mismatch_list
from rewards.services.members import member_points_adjust
from rewards.services.redemption import (
    InsufficientPoints,
    OutOfStock,
    catalog_codes_add,
    reward_redeem_catalog,
    reward_redeem_to_card,
)
from tests.cards.factories import make_programmed_card
from tests.factories import UserFactory

from .factories import SAT, balance_points, make_member, member_points, operator, program_funder

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_with_points():
    """A member holding an active card, with 1,000 available points in two lots."""
    program_funder(points=1_000_000)
    user = UserFactory()
    card = make_programmed_card(holder=user)
    member = make_member(user)
    admin = operator()
    member_points_adjust(member=member, points=600, reason="welcome", actor=admin)
    member_points_adjust(member=member, points=400, reason="goodwill", actor=admin)
    return member, card


def test_points_become_sats_on_the_members_card_at_once(member_with_points):
    member, card = member_with_points
    redemption = reward_redeem_to_card(user=member.user, card_id=card.public_id, points=700)
    assert (redemption.kind, redemption.amount_msat, redemption.card_id) == ("card", 700 * SAT, card.public_id)
    assert member_points(member) == (0, 300)
    assert card_selectors.card_balance(card=card).available.value == 700 * SAT
    txn = Transaction.objects.get(pk=redemption.txn_id)
    assert txn.metadata["type"] == "reward"
    # the card's history shows it as a reward
    [item] = card_selectors.card_history(card=card)
    assert (item.kind, item.amount_msat) == ("reward", 700 * SAT)
    assert ledger_reconcile().ok and member_lots_mismatch_list() == []


def test_lots_are_spent_soonest_to_expire_first(member_with_points):
    member, card = member_with_points
    first, second = Award.objects.filter(member=member).order_by("pk")
    Award.objects.filter(pk=second.pk).update(expires_at=timezone.now() + timedelta(days=5))
    reward_redeem_to_card(user=member.user, card_id=card.public_id, points=500)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (second.remaining_msat, first.remaining_msat) == (0, 500 * SAT)


def test_refusals_write_nothing(member_with_points):
    member, card = member_with_points
    other_card = make_programmed_card(holder=UserFactory(), uid="04A39493CC8681")
    with pytest.raises(InsufficientPoints):
        reward_redeem_to_card(user=member.user, card_id=card.public_id, points=1_001)
    with pytest.raises(NotFound):
        reward_redeem_to_card(user=member.user, card_id=other_card.public_id, points=10)
    card_freeze(card=card)
    with pytest.raises(Conflict):
        reward_redeem_to_card(user=member.user, card_id=card.public_id, points=10)
    with pytest.raises(InsufficientPoints):
        reward_redeem_to_card(user=UserFactory(), card_id=card.public_id, points=10)  # not a member
    assert Redemption.objects.count() == 0
    assert member_points(member) == (0, 1_000)
    assert card_selectors.card_balance(card=card).posted.value == 0


def test_catalog_items_with_stock_and_one_time_codes(member_with_points):
    member, _card = member_with_points
    item = CatalogItem.objects.create(name="Coffee voucher", price_points=300, stock=5, uses_codes=True)
    assert catalog_codes_add(item=item, codes=["AAA-1", "BBB-2", "AAA-1", " "]) == 2
    first = reward_redeem_catalog(user=member.user, item_id=item.public_id)
    second = reward_redeem_catalog(user=member.user, item_id=item.public_id)
    assert {first.code.code, second.code.code} == {"AAA-1", "BBB-2"}
    item.refresh_from_db()
    assert item.stock == 3
    # no codes left: out of stock, and nothing is spent
    with pytest.raises(OutOfStock):
        reward_redeem_catalog(user=member.user, item_id=item.public_id)
    assert member_points(member) == (0, 400)
    from flashpay.ledger.accounts import rewards_catalog_account

    assert balance_points(rewards_catalog_account()) == 600


def test_a_service_without_codes_and_limited_stock(member_with_points):
    member, _card = member_with_points
    item = CatalogItem.objects.create(name="Car wash", kind="service", price_points=100, stock=1)
    redemption = reward_redeem_catalog(user=member.user, item_id=item.public_id)
    assert redemption.code is None and redemption.item == item
    with pytest.raises(OutOfStock):
        reward_redeem_catalog(user=member.user, item_id=item.public_id)
    expensive = CatalogItem.objects.create(name="Flight", price_points=5_000)
    with pytest.raises(InsufficientPoints):
        reward_redeem_catalog(user=member.user, item_id=expensive.public_id)
    assert member_points(member) == (0, 900)
