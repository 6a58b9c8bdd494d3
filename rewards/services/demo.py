"""The development demo of the rewards program (``seed_demo``, i.e. ``make run``): merchants with
earning rules and funded accounts, tiers, members with Flash Cards, two campaigns, and four weeks
of simulated card purchases run through the real services (earning, maturing, redemption, a few
refunds), so the operator console and the dashboard have data on first start.

Simulated: the purchases are awarded as if their card payments had happened (no sats move on
the cards for them); every point is still a real ledger entry. Runs once: a second call finds
the demo merchants and does nothing.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from flashpay.ledger.selectors import account_balance
from rewards.models import MSAT_PER_POINT, Award, Campaign, EarningRule, Tier
from rewards.services.campaigns import campaign_activate, campaign_save
from rewards.services.earning import Purchase, award_earn, earning_rule_save
from rewards.services.funding import funder_top_up, program_funder_get_or_create
from rewards.services.lifecycle import award_clawback, awards_mature
from rewards.services.members import member_get_or_create, member_tiers_recompute
from rewards.services.redemption import reward_redeem_to_card

DEMO_MERCHANTS = (
    # name, rate %, tap points, hold days
    ("Island Coffee (rewards demo)", Decimal("5"), 21, 3),
    ("Kingston Grocers (rewards demo)", Decimal("2"), 21, 7),
    ("Montego Books (rewards demo)", Decimal("3"), 0, 7),
)
DEMO_MEMBERS = 16
DEMO_DAYS = 28


@dataclass
class DemoSeeded:
    awards: int = 0
    redemptions: int = 0
    lines: list[str] = field(default_factory=list)


def _purchase_times(rng: random.Random, day: datetime) -> list[datetime]:
    count = rng.choices([0, 1, 2], weights=[5, 4, 1])[0]
    return sorted(day + timedelta(hours=rng.randint(8, 20), minutes=rng.randint(0, 59)) for _ in range(count))


def rewards_demo_seed(*, operator, now: datetime | None = None, seed: int = 11) -> DemoSeeded:
    """Plant the demo (see the module docstring); returns what it made and lines to print."""
    from cards.selectors import card_list
    from cards.services.cards import card_activate, card_create
    from flashpay.accounts.models import Store, User
    from flashpay.accounts.services import store_create

    result = DemoSeeded()
    if EarningRule.objects.filter(store__name=DEMO_MERCHANTS[0][0]).exists():
        result.lines = ["  rewards:  demo already planted (see the admin: Rewards)"]
        return result
    now = now or timezone.now()
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    start = (now - timedelta(days=DEMO_DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    with transaction.atomic():
        rules = []
        for name, rate, tap, hold in DEMO_MERCHANTS:
            store = Store.objects.filter(name=name).first() or store_create(user=operator, name=name)
            rule = earning_rule_save(
                rule=EarningRule(store=store, rate_percent=rate, tap_points=tap, hold_days=hold, min_points=1, max_points=5_000)
            )
            funder_top_up(funder=rule.funder, points=2_000_000, note="demo: prepaid by the merchant", actor=operator)
            rules.append(rule)
        program = program_funder_get_or_create()
        funder_top_up(funder=program, points=5_000_000, note="demo: Flash's program budget", actor=operator)
        for name, spend, multiplier in (("Silver", 100_000, "1.25"), ("Gold", 400_000, "1.50")):
            Tier.objects.get_or_create(name=name, defaults={"min_spend_points": spend, "multiplier": Decimal(multiplier)})
        weekends = campaign_save(
            campaign=Campaign(
                name="Double points weekends", description="Twice the points on Saturdays and Sundays.",
                starts_at=start, days_of_week="56", effect=Campaign.Effect.MULTIPLIER, multiplier=Decimal("2"),
                budget_points=100_000, cap_day_points=2_000, funder=program,
            ),
            actor=operator,
        )
        campaign_activate(campaign=weekends, actor=operator, reason="demo")
        coffee = campaign_save(
            campaign=Campaign(
                name="Coffee welcome bonus", description="50 extra points on your first coffees.",
                starts_at=start, effect=Campaign.Effect.BONUS, bonus_points=50, segment=Campaign.Segment.NEW,
                segment_days=60, budget_points=2_000, cap_total_points=150, funder=rules[0].funder,
            ),
            actor=operator,
        )
        coffee.stores.set([rules[0].store])
        campaign_activate(campaign=coffee, actor=operator, reason="demo")
        members = []
        for n in range(1, DEMO_MEMBERS + 1):
            user, _ = User.objects.get_or_create(
                username=f"demo-member-{n}", defaults={"email": f"demo-member-{n}@flashpay.local", "is_active": True}
            )
            card = card_list(holder=user).first()
            if card is None:
                card = card_create(name=f"Demo card {n}", holder=user, actor=operator).card
                card = card_activate(card=card, actor=operator, reason="demo")
            member = member_get_or_create(user=user)
            member.joined_at = start - timedelta(days=rng.randint(0, 120))
            member.save(update_fields=["joined_at"])
            members.append((member, card))

        number = 0
        for day_index in range(DEMO_DAYS):
            day = start + timedelta(days=day_index)
            for member, _card in members:
                for at in _purchase_times(rng, day):
                    number += 1
                    rule = rng.choices(rules, weights=[5, 3, 1])[0]
                    award = award_earn(
                        user_id=member.user_id,
                        purchase=Purchase(
                            source=Award.Source.CARD_PAYMENT,
                            idempotency_key=f"card-payment:demo{number:06d}",
                            store_id=rule.store_id,
                            amount_msat=rng.randint(1_500, 60_000) * MSAT_PER_POINT,
                            occurred_at=at,
                            payment_hash=f"demo{number:06d}",
                        ),
                    )
                    if award is None:
                        continue
                    result.awards += 1
                    if rng.random() < 0.03:
                        award_clawback(award=award, reason="demo: the purchase was refunded", now=at + timedelta(hours=2))
            day_end = day + timedelta(days=1)
            awards_mature(now=day_end, limit=10_000)
            for member, card in members:
                available = account_balance(account=member.available_account_id).posted.value
                if available >= 800 * MSAT_PER_POINT and rng.random() < 0.15:
                    points = rng.randint(300, available // MSAT_PER_POINT // 2 + 300)
                    reward_redeem_to_card(user=member.user, card_id=card.public_id, points=min(points, available // MSAT_PER_POINT), now=day_end - timedelta(hours=1))
                    result.redemptions += 1
        member_tiers_recompute(now=now)
    result.lines = [
        f"  rewards:  {len(rules)} demo merchants, {len(members)} members, 2 campaigns, {result.awards} awards and "
        f"{result.redemptions} redemptions over {DEMO_DAYS} days (admin: Rewards)",
    ]
    return result
