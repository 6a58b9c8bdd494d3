"""The rewards operator console: every page renders, and its actions go through the services."""
import pytest
from django.test import Client
from django.urls import reverse

from flashpay.ledger.models import Transaction
from rewards.models import (
    Adjustment,
    Award,
    Campaign,
    CampaignEvent,
    CatalogCode,
    CatalogItem,
    EarningRule,
    FundingTopUp,
)
from rewards.services.earning import Purchase, award_earn
from tests.factories import StoreFactory

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


@pytest.fixture
def staff():
    return operator()


@pytest.fixture
def admin_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def run_action(client, model: str, action: str, ids, **form):
    url = reverse(f"admin:rewards_{model}_changelist")
    asked = client.post(url, {"action": action, "_selected_action": [str(i) for i in ids]})
    assert asked.status_code == 200  # the form page
    return client.post(url, {"action": action, "_selected_action": [str(i) for i in ids], "apply": "1", **form})


def test_every_rewards_page_renders(admin_client):
    rule = funded_rule()
    member = make_member()
    campaign = make_campaign()
    award = award_earn(user_id=member.user_id, purchase=Purchase(
        source="card_payment", idempotency_key="card-payment:a", store_id=rule.store_id, amount_msat=10_000 * SAT,
        occurred_at=campaign.starts_at,
    ))
    item = CatalogItem.objects.create(name="Voucher", price_points=10)
    for model, obj in [
        ("fundingaccount", rule.funder), ("earningrule", rule), ("campaign", campaign), ("member", member),
        ("award", award), ("catalogitem", item), ("tier", None), ("programsettings", None), ("issuancerefusal", None),
        ("redemption", None), ("adjustment", None),
    ]:
        assert admin_client.get(reverse(f"admin:rewards_{model}_changelist")).status_code == 200, model
        if obj is not None:
            assert admin_client.get(reverse(f"admin:rewards_{model}_change", args=[obj.pk])).status_code == 200, model
    assert admin_client.get(reverse("admin:rewards_campaign_add")).status_code == 200
    assert admin_client.get(reverse("admin:rewards_earningrule_add")).status_code == 200


def test_a_rule_made_in_the_admin_gets_the_merchants_funder(admin_client):
    store = StoreFactory()
    response = admin_client.post(reverse("admin:rewards_earningrule_add"), {
        "store": store.pk, "enabled": "on", "rate_percent": "3", "min_points": "1", "max_points": "500", "tap_points": "21",
        "earn_on_card_payment": "on", "funding_source": "merchant",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = EarningRule.objects.get(store=store)
    assert rule.funder.store == store and rule.funder.account.reference == f"store:{store.pk}"
    # a rate over 10 % is refused
    bad = admin_client.post(reverse("admin:rewards_earningrule_change", args=[rule.pk]), {
        "store": store.pk, "rate_percent": "12", "min_points": "1", "tap_points": "0", "funding_source": "merchant",
    })
    assert bad.status_code == 200 and "errorlist" in bad.content.decode()


def test_topping_up_a_funder_records_who_and_why(admin_client, staff):
    funder = program_funder()
    response = run_action(admin_client, "fundingaccount", "top_up", [funder.pk], points="5000", note="wire from Flash")
    assert response.status_code == 302
    topup = FundingTopUp.objects.get()
    assert (topup.amount_msat, topup.note, topup.actor) == (5_000 * SAT, "wire from Flash", staff)
    assert balance_points(funder.account) == 5_000
    assert Transaction.objects.get(pk=topup.txn_id).metadata["action"] == "topup"


def test_campaigns_are_created_as_drafts_then_activated_paused_resumed_and_ended(admin_client, staff):
    funder = program_funder()
    response = admin_client.post(reverse("admin:rewards_campaign_add"), {
        "name": "Weekend", "description": "", "funder": funder.pk, "starts_at_0": "2030-01-01", "starts_at_1": "00:00:00",
        "days_of_week": "56", "hour_from": "0", "hour_to": "24", "time_zone": "America/Jamaica", "on_card_payment": "on",
        "min_purchase_msat": "0", "segment": "all", "segment_days": "30", "effect": "bonus", "multiplier": "2", "bonus_points": "21",
        "budget_points": "1000",
        "events-TOTAL_FORMS": "0", "events-INITIAL_FORMS": "0", "events-MIN_NUM_FORMS": "0", "events-MAX_NUM_FORMS": "1000",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    campaign = Campaign.objects.get(name="Weekend")
    assert campaign.state == "draft"
    for action, state in [("activate_campaigns", "active"), ("pause_campaigns", "paused"), ("resume_campaigns", "active"), ("end_campaigns", "ended")]:
        run_action(admin_client, "campaign", action, [campaign.pk], reason=f"{action} by test")
        campaign.refresh_from_db()
        assert campaign.state == state
    trail = list(CampaignEvent.objects.filter(campaign=campaign).values_list("from_state", "to_state", "actor"))
    assert trail == [("", "draft", staff.pk), ("draft", "active", staff.pk), ("active", "paused", staff.pk),
                     ("paused", "active", staff.pk), ("active", "ended", staff.pk)]
    # an ended campaign cannot be resumed: the refusal is shown, nothing changes
    response = run_action(admin_client, "campaign", "resume_campaigns", [campaign.pk], reason="again")
    campaign.refresh_from_db()
    assert campaign.state == "ended"


def test_a_bad_time_zone_is_a_form_error_not_a_500(admin_client):
    funder = program_funder()
    response = admin_client.post(reverse("admin:rewards_campaign_add"), {
        "name": "Bad", "funder": funder.pk, "starts_at_0": "2030-01-01", "starts_at_1": "00:00:00", "hour_from": "0", "hour_to": "24",
        "time_zone": "Mars/Olympus", "min_purchase_msat": "0", "segment": "all", "segment_days": "30", "effect": "bonus",
        "multiplier": "2", "bonus_points": "21",
        "events-TOTAL_FORMS": "0", "events-INITIAL_FORMS": "0", "events-MIN_NUM_FORMS": "0", "events-MAX_NUM_FORMS": "1000",
    })
    assert response.status_code == 200 and "not a known IANA time zone" in response.content.decode()
    assert not Campaign.objects.exists()


def test_adjusting_a_members_points_with_a_reason(admin_client, staff):
    program_funder(points=1_000)
    member = make_member()
    run_action(admin_client, "member", "adjust_points", [member.pk], points="250", reason="lost receipt")
    assert member_points(member) == (0, 250)
    adjustment = Adjustment.objects.get()
    assert (adjustment.actor, adjustment.reason) == (staff, "lost receipt")
    # taking more than there is: an error message, nothing written
    response = run_action(admin_client, "member", "adjust_points", [member.pk], points="-500", reason="oops")
    assert response.status_code == 302
    assert Adjustment.objects.count() == 1 and member_points(member) == (0, 250)


def test_reversing_an_award(admin_client, staff):
    rule = funded_rule()
    member = make_member()
    award = award_earn(user_id=member.user_id, purchase=Purchase(
        source="card_payment", idempotency_key="card-payment:r", store_id=rule.store_id, amount_msat=10_000 * SAT,
        occurred_at=rule.created_at,
    ))
    # the reason is required
    url = reverse("admin:rewards_award_changelist")
    response = admin_client.post(url, {"action": "reverse_awards", "_selected_action": [award.pk], "apply": "1", "reason": ""})
    assert response.status_code == 200
    assert Award.objects.get(pk=award.pk).status == "pending"
    run_action(admin_client, "award", "reverse_awards", [award.pk], reason="card was stolen")
    award.refresh_from_db()
    assert (award.status, award.reversed_by) == ("clawed_back", staff)
    assert member_points(member) == (0, 0)
    # the award page is read-only
    assert admin_client.post(reverse("admin:rewards_award_change", args=[award.pk]), {}).status_code == 403


def test_catalog_codes_are_loaded_from_the_item_form(admin_client):
    response = admin_client.post(reverse("admin:rewards_catalogitem_add"), {
        "name": "Cinema", "description": "", "kind": "voucher", "price_points": "500", "uses_codes": "on", "active": "on",
        "codes_to_add": "CIN-1\nCIN-2\n",
        "codes-TOTAL_FORMS": "0", "codes-INITIAL_FORMS": "0", "codes-MIN_NUM_FORMS": "0", "codes-MAX_NUM_FORMS": "1000",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    assert sorted(CatalogCode.objects.values_list("code", flat=True)) == ["CIN-1", "CIN-2"]
