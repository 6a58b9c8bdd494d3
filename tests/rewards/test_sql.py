"""Each hand-written statement of the earning path (rewards/sql.py) reads what the ORM reads."""
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from rewards import sql
from rewards.models import Award, Campaign, EarningRule, Member, Tier
from tests.factories import StoreFactory

from .factories import funded_rule, make_campaign, make_member, program_funder

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_rule_by_store_is_the_rule_with_its_store_and_funder():
    rule = funded_rule()
    found = sql.RULE_BY_STORE.first([rule.store_id])
    orm = EarningRule.objects.select_related("store", "funder").get(store_id=rule.store_id)
    assert _fields(found) == _fields(orm)
    assert _fields(found.store) == _fields(orm.store) and _fields(found.funder) == _fields(orm.funder)
    assert sql.RULE_BY_STORE.first([StoreFactory().pk]) is None


def test_member_by_user_has_its_tier_and_accounts_and_is_locked():
    member = make_member()
    member.tier = Tier.objects.create(name="Gold", min_spend_points=1, multiplier=2)
    member.save()
    with transaction.atomic():
        found = sql.member_by_user_for_update(member.user_id)
        orm = Member.objects.select_related("tier", "pending_account", "available_account").get(pk=member.pk)
        assert _fields(found) == _fields(orm)
        assert _fields(found.tier) == _fields(orm.tier)
        assert _fields(found.pending_account) == _fields(orm.pending_account)
        assert _fields(found.available_account) == _fields(orm.available_account)
        if connection.vendor == "postgresql":
            assert _locked_elsewhere(member.pk)
    assert sql.member_by_user_for_update(0) is None


def _locked_elsewhere(member_id: int) -> bool:
    """Whether another connection finds the member row locked (FOR NO KEY UPDATE NOWAIT fails)."""
    outcome = []

    def probe():
        try:
            with transaction.atomic():
                Member.objects.select_for_update(no_key=True, nowait=True).get(pk=member_id)
            outcome.append(False)
        except Exception:  # noqa: BLE001 - the lock error is what we look for
            outcome.append(True)
        finally:
            connections.close_all()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join(30)
    return outcome == [True]


def test_award_by_key():
    rule = funded_rule()
    from rewards.services.earning import Purchase, award_earn

    award = award_earn(user_id=make_member().user_id, purchase=Purchase(
        source="card_payment", idempotency_key="card-payment:k", store_id=rule.store_id, amount_msat=5_000_000,
        occurred_at=timezone.now(),
    ))
    assert _fields(sql.AWARD_BY_KEY.first(["card-payment:k"])) == _fields(Award.objects.get(pk=award.pk))
    assert sql.AWARD_BY_KEY.first(["card-payment:nope"]) is None


def test_campaign_candidates_match_the_orm():
    here, there = StoreFactory(), StoreFactory()
    funder = program_funder()
    now = timezone.now()
    make_campaign(funder=funder, name="everywhere")
    make_campaign(funder=funder, name="here", stores=[here])
    make_campaign(funder=funder, name="there", stores=[there])
    make_campaign(funder=funder, name="both", stores=[here, there])
    make_campaign(funder=funder, name="big", min_purchase_msat=10_000_000)
    make_campaign(funder=funder, name="invoices", on_card_payment=False)
    make_campaign(funder=funder, name="cards", on_invoice=False)
    make_campaign(funder=funder, name="draft", activate=False)
    make_campaign(funder=funder, name="later", starts_at=now + timedelta(days=1))
    make_campaign(funder=funder, name="over", starts_at=now - timedelta(days=9), ends_at=now + timedelta(days=1))
    Campaign.objects.filter(name="over").update(ends_at=now - timedelta(days=1))  # ended, not yet swept
    for card, amount in [(True, 1_000_000), (False, 1_000_000), (True, 20_000_000), (False, 20_000_000)]:
        statement = sql.CAMPAIGNS_FOR_CARD_PAYMENT if card else sql.CAMPAIGNS_FOR_INVOICE
        found = statement.all(["active", now, now, amount, here.pk])
        orm = (
            Campaign.objects.filter(state="active", starts_at__lte=now, min_purchase_msat__lte=amount)
            .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
            .filter(**({"on_card_payment": True} if card else {"on_invoice": True}))
            .filter(Q(stores=None) | Q(stores=here))
            .distinct()
            .order_by("pk")
        )
        assert [c.name for c in found] == [c.name for c in orm]
        assert all(c.funder.pk == funder.pk for c in found)
    names = [c.name for c in sql.CAMPAIGNS_FOR_CARD_PAYMENT.all(["active", now, now, 20_000_000, here.pk])]
    assert names == ["everywhere", "here", "both", "big", "cards"]
