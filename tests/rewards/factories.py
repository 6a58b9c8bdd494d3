"""Helpers for the rewards tests: stores with earning rules, funded funders, members with cards."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from flashpay.ledger.selectors import account_balance
from rewards.models import Campaign, EarningRule, FundingAccount, Member
from rewards.services import campaigns, earning, funding, members
from tests.factories import StoreFactory, UserFactory

SAT = 1000


def operator():
    return UserFactory(is_staff=True, is_superuser=True)


def make_rule(*, store=None, funding_source="merchant", **fields) -> EarningRule:
    store = store or StoreFactory()
    rule = EarningRule(store=store, funding_source=funding_source, **fields)
    return earning.earning_rule_save(rule=rule)


def top_up(funder: FundingAccount, points: int):
    return funding.funder_top_up(funder=funder, points=points, note="test top-up", actor=operator())


def funded_rule(points: int = 1_000_000, **fields) -> EarningRule:
    rule = make_rule(**fields)
    top_up(rule.funder, points)
    return rule


def program_funder(points: int = 0) -> FundingAccount:
    funder = funding.program_funder_get_or_create()
    if points:
        top_up(funder, points)
    return funder


def make_member(user=None) -> Member:
    return members.member_get_or_create(user=user or UserFactory())


def make_campaign(*, funder=None, activate: bool = True, stores=(), **fields) -> Campaign:
    fields.setdefault("name", "Test campaign")
    fields.setdefault("starts_at", timezone.now() - timedelta(days=1))
    fields.setdefault("time_zone", "UTC")
    if fields.get("effect") == Campaign.Effect.MULTIPLIER:
        fields.setdefault("multiplier", Decimal("2.00"))
    else:
        fields.setdefault("effect", Campaign.Effect.BONUS)
        fields.setdefault("bonus_points", 50)
    campaign = campaigns.campaign_save(campaign=Campaign(funder=funder or program_funder(), **fields))
    if stores:
        campaign.stores.set(stores)
    if activate:
        campaign = campaigns.campaign_activate(campaign=campaign)
    return campaign


def balance_points(account) -> int:
    return account_balance(account=account).available.value // SAT


def member_points(member: Member) -> tuple[int, int]:
    """(pending, available) points of a member."""
    return balance_points(member.pending_account), balance_points(member.available_account)
