"""The Flash app's rewards API: balance, history, campaigns, catalog, redeem (idempotent), join."""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from cards import selectors as card_selectors
from rewards.models import Award, CatalogItem, ProgramSettings, Redemption, Tier
from rewards.services.campaigns import campaign_end
from rewards.services.earning import Purchase, award_earn
from rewards.services.lifecycle import awards_mature
from rewards.services.members import member_points_adjust
from rewards.services.redemption import catalog_codes_add
from tests.cards.factories import make_programmed_card
from tests.factories import DEFAULT_PASSWORD, UserFactory

from .factories import (
    SAT,
    funded_rule,
    make_campaign,
    make_member,
    member_points,
    operator,
    program_funder,
)

pytestmark = pytest.mark.django_db


def app_client(user) -> APIClient:
    response = APIClient().post(reverse("cards-app:token"), {"username": user.username, "password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 201
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
    return client


@pytest.fixture
def holder():
    """A cardholder with an active card and 1,000 available points, and their app client."""
    program_funder(points=1_000_000)
    user = UserFactory()
    card = make_programmed_card(holder=user)
    member = make_member(user)
    member_points_adjust(member=member, points=1_000, reason="test", actor=operator())
    return user, card, member, app_client(user)


def test_every_endpoint_needs_an_app_token():
    client = APIClient()
    for name, method in [
        ("balance", "get"), ("history", "get"), ("campaigns", "get"), ("catalog", "get"), ("redemptions", "get"),
        ("join", "post"), ("redeem-card", "post"), ("redeem-catalog", "post"),
    ]:
        response = getattr(client, method)(reverse(f"rewards-app:{name}"), {}, format="json")
        assert response.status_code == 401, name


def test_balance_of_a_user_who_is_not_a_member_yet_is_zero():
    client = app_client(UserFactory())
    data = client.get(reverse("rewards-app:balance")).json()
    assert (data["member_id"], data["pending_points"], data["available_points"], data["tier"]) == ("", 0, 0, None)


def test_balance_pending_available_expiring_and_tier(holder, settings):
    settings.REWARDS_EXPIRING_SOON_DAYS = 30
    user, _card, member, client = holder
    Tier.objects.create(name="Silver", min_spend_points=0, multiplier=Decimal("1.10"))
    gold = Tier.objects.create(name="Gold", min_spend_points=500_000, multiplier=Decimal("1.50"))
    rule = funded_rule()
    award_earn(user_id=user.pk, purchase=Purchase(
        source="card_payment", idempotency_key="card-payment:x", store_id=rule.store_id, amount_msat=10_000 * SAT, occurred_at=timezone.now(),
    ))
    soon = Award.objects.get(member=member, kind="adjustment")
    Award.objects.filter(pk=soon.pk).update(expires_at=timezone.now() + timedelta(days=10))
    data = client.get(reverse("rewards-app:balance")).json()
    assert (data["pending_points"], data["available_points"], data["expiring_soon_points"]) == (221, 1_000, 1_000)
    assert data["member_id"] == member.public_id and data["referral_code"] == member.referral_code
    assert data["next_tier"] == {"name": "Silver", "multiplier": "1.10"}
    member.tier = Tier.objects.get(name="Silver")
    member.save()
    data = client.get(reverse("rewards-app:balance")).json()
    assert data["tier"]["name"] == "Silver" and data["next_tier"]["name"] == gold.name
    assert data["next_tier_spend_points"] == 500_000


def test_history_shows_every_movement_newest_first(holder):
    user, card, member, client = holder
    rule = funded_rule()
    award = award_earn(user_id=user.pk, purchase=Purchase(
        source="card_payment", idempotency_key="card-payment:y", store_id=rule.store_id, amount_msat=10_000 * SAT, occurred_at=timezone.now(),
    ))
    awards_mature(now=award.matures_at)
    client.post(reverse("rewards-app:redeem-card"), {"card_id": card.public_id, "points": 100}, format="json")
    page = client.get(reverse("rewards-app:history"), {"page_size": 3}).json()
    assert page["count"] == 4
    rows = [(r["action"], r["pending_points"], r["available_points"]) for r in page["results"]]
    assert rows == [("redeem", 0, -100), ("mature", -221, 221), ("earn", 221, 0)]
    assert page["next"] is not None
    rest = client.get(page["next"]).json()["results"]
    assert [(r["action"], r["available_points"]) for r in rest] == [("adjust", 1_000)]


def test_campaigns_on_offer(holder):
    _user, _card, _member, client = holder
    running = make_campaign(name="Double weekends", description="x2 on weekends", days_of_week="56", bonus_points=25)
    make_campaign(name="Draft", activate=False)
    over = make_campaign(name="Over")
    campaign_end(campaign=over)
    data = client.get(reverse("rewards-app:campaigns")).json()
    assert [c["name"] for c in data] == ["Double weekends"]
    assert data[0]["id"] == running.public_id
    assert (data[0]["effect"], data[0]["bonus_points"], data[0]["days_of_week"]) == ("bonus", 25, [5, 6])


def test_catalog_and_redeeming_an_item_hands_its_code_out_once(holder):
    user, _card, member, client = holder
    voucher = CatalogItem.objects.create(name="Coffee", price_points=300, uses_codes=True)
    catalog_codes_add(item=voucher, codes=["COFFEE-1"])
    CatalogItem.objects.create(name="Hidden", price_points=1, active=False)
    items = client.get(reverse("rewards-app:catalog")).json()
    assert [(i["name"], i["in_stock"]) for i in items] == [("Coffee", True)]
    made = client.post(reverse("rewards-app:redeem-catalog"), {"item_id": voucher.public_id}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert made.status_code == 201
    assert (made.json()["code"], made.json()["points"], made.json()["item"]["name"]) == ("COFFEE-1", 300, "Coffee")
    assert client.get(reverse("rewards-app:catalog")).json()[0]["in_stock"] is False
    gone = client.post(reverse("rewards-app:redeem-catalog"), {"item_id": voucher.public_id}, format="json")
    assert gone.status_code == 409 and gone.json()["code"] == "out-of-stock"
    assert [r["code"] for r in client.get(reverse("rewards-app:redemptions")).json()] == ["COFFEE-1"]
    # nobody else sees it
    other = app_client(UserFactory())
    assert other.get(reverse("rewards-app:redemptions")).json() == []
    assert member_points(member) == (0, 700)


def test_redeem_onto_the_card_is_idempotent_with_the_header(holder):
    _user, card, member, client = holder
    url = reverse("rewards-app:redeem-card")
    body = {"card_id": card.public_id, "points": 400}
    first = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="redeem-1")
    again = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="redeem-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    other_body = client.post(url, {**body, "points": 1}, format="json", HTTP_IDEMPOTENCY_KEY="redeem-1")
    assert other_body.status_code == 422
    assert Redemption.objects.count() == 1
    assert member_points(member) == (0, 600)
    assert card_selectors.card_balance(card=card).posted.value == 400 * SAT


def test_redeem_refusals_are_clear_4xx_and_write_nothing(holder):
    _user, card, member, client = holder
    url = reverse("rewards-app:redeem-card")
    too_much = client.post(url, {"card_id": card.public_id, "points": 1_001}, format="json")
    assert too_much.status_code == 400 and too_much.json()["code"] == "insufficient-points"
    not_mine = make_programmed_card(holder=UserFactory(), uid="04A39493CC8682")
    assert client.post(url, {"card_id": not_mine.public_id, "points": 1}, format="json").status_code == 404
    bad = client.post(url, {"card_id": card.public_id, "points": 0}, format="json")
    assert bad.status_code == 400 and bad.json()[0]["path"] == "points"
    assert client.post(url, {"card_id": card.public_id, "points": "ten"}, format="json").status_code == 400
    assert client.post(reverse("rewards-app:redeem-catalog"), {"item_id": "nope"}, format="json").status_code == 404
    assert Redemption.objects.count() == 0 and member_points(member) == (0, 1_000)


def test_join_with_a_referral_code():
    program_funder(points=10_000)
    ProgramSettings.objects.update_or_create(pk=1, defaults={"referral_bonus_points": 50})
    referrer_user = UserFactory()
    make_programmed_card(holder=referrer_user)
    referrer = make_member(referrer_user)
    newcomer = UserFactory()
    make_programmed_card(holder=newcomer, uid="04A39493CC8683")
    client = app_client(newcomer)
    response = client.post(reverse("rewards-app:join"), {"referral_code": referrer.referral_code.lower()}, format="json")
    assert response.status_code == 200 and response.json()["member_id"]
    assert member_points(referrer) == (50, 0)
    bad = client.post(reverse("rewards-app:join"), {"referral_code": "ZZZZZZZZ"}, format="json")
    assert bad.status_code == 200  # already referred: the code is not looked at again
