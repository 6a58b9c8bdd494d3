"""The rewards demo that seed_demo plants: weeks of activity through the real services, once."""
from datetime import timedelta

import pytest
from django.utils import timezone

from flashpay.ledger.services import ledger_reconcile
from rewards.models import Award, AwardPart, Campaign, EarningRule, Member, Redemption
from rewards.selectors import member_lots_mismatch_list
from rewards.services.demo import DEMO_DAYS, rewards_demo_seed

from .factories import operator

pytestmark = pytest.mark.django_db


def test_the_demo_plants_weeks_of_activity_once():
    admin = operator()
    now = timezone.now()
    seeded = rewards_demo_seed(operator=admin, now=now)
    assert EarningRule.objects.count() == 3 and Member.objects.count() == 16
    assert Campaign.objects.filter(state="active").count() == 2
    assert seeded.awards == Award.objects.count() > 100
    assert seeded.redemptions == Redemption.objects.count() > 0
    # spread over the weeks, matured, some clawed back, campaigns paid part of it
    first = Award.objects.order_by("created_at").first().created_at
    assert first < now - timedelta(days=DEMO_DAYS - 3)
    statuses = set(Award.objects.values_list("status", flat=True))
    assert {"pending", "available"} <= statuses
    assert AwardPart.objects.filter(campaign__isnull=False).exists()
    assert ledger_reconcile().ok and member_lots_mismatch_list() == []
    # a second run changes nothing
    again = rewards_demo_seed(operator=admin, now=now)
    assert again.awards == 0 and Award.objects.count() == seeded.awards
    assert "already" in again.lines[0]
