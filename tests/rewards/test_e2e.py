"""End to end through HTTP and the worker: the operator sets up a merchant's rewards in the admin,
a cardholder links their card in the app and taps it at the merchant, the outbox earns the right
points (rate, minimum, maximum, tap reward, stacked campaigns), the points mature, are redeemed
onto the card in the app and spent at another merchant, and a refund inside the hold period
claws a later purchase's points back."""
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from cards import selectors as card_selectors
from cards.models import ProgrammingLink
from cards.services.programming import card_program, programming_link_create
from flashpay.events.services import event_emit
from flashpay.ledger.accounts import merchant_account_get
from flashpay.ledger.services import ledger_reconcile
from rewards.models import Award, Campaign, EarningRule, FundingAccount
from rewards.selectors import member_lots_mismatch_list
from rewards.services.funding import program_funder_get_or_create
from rewards.services.lifecycle import awards_mature
from tests.cards.factories import fund_card, make_card, tap_params
from tests.factories import (
    DEFAULT_PASSWORD,
    StoreFactory,
    UserFactory,
    create_api_key,
    token_header,
)
from tests.invoices.api import invoice_create, invoice_payment_methods
from tests.invoices.conftest import deliver
from tests.invoices.factories import store_setup_payment_methods

from .factories import SAT, balance_points, operator

pytestmark = pytest.mark.django_db(transaction=True)


def shop_with_key(name: str):
    owner = UserFactory()
    store = StoreFactory(owner=owner, name=name)
    _key, secret = create_api_key(user=owner, permissions=[f"btcpay.store.canmodifystoresettings:{store.pk}"])
    store_setup_payment_methods(store=store, lightning="Internal Node")
    return store, token_header(secret)


def admin_action(client, model: str, action: str, pk, **form):
    url = reverse(f"admin:rewards_{model}_changelist")
    response = client.post(url, {"action": action, "_selected_action": [pk], "apply": "1", **form})
    assert response.status_code == 302, response.content.decode()[:2000]


def campaign_form(funder, **fields) -> dict:
    start = timezone.now() - timedelta(days=1)
    form = {
        "description": "", "funder": funder.pk, "starts_at_0": start.strftime("%Y-%m-%d"), "starts_at_1": start.strftime("%H:%M:%S"),
        "days_of_week": "", "hour_from": "0", "hour_to": "24", "time_zone": "UTC", "on_card_payment": "on",
        "on_invoice": "on", "min_purchase_msat": "0", "segment": "all", "segment_days": "30", "multiplier": "2",
        "bonus_points": "0",
        "events-TOTAL_FORMS": "0", "events-INITIAL_FORMS": "0", "events-MIN_NUM_FORMS": "0", "events-MAX_NUM_FORMS": "1000",
    }
    return {**form, **fields}


def pay_with_card(api_client, card, counter: int, store, headers, btc: str) -> str:
    """The merchant makes a Greenfield invoice; the card taps and its wallet pays it (LUD-03)."""
    invoice = invoice_create(api_client, store, headers, {"amount": btc, "currency": "BTC"})
    bolt11 = invoice_payment_methods(api_client, invoice["id"], headers)["BTC-LN"]["destination"]
    offer = APIClient().get(reverse("cards:tap"), tap_params(card, counter)).json()
    callback = urlsplit(offer["callback"]).path
    paid = APIClient().get(callback, {"k1": offer["k1"], "pr": bolt11})
    assert paid.json() == {"status": "OK"}, paid.json()
    return invoice["id"]


def test_tap_earn_mature_redeem_spend_and_refund(nodes, settings, api_client):
    settings.CARD_RATE_LIMIT_PER_CARD = 0
    settings.CARD_RATE_LIMIT_PER_IP = 0
    coffee, coffee_headers = shop_with_key("Island Coffee")
    books, books_headers = shop_with_key("Montego Books")

    # --- the operator, in the admin: a rule for the coffee shop, its funding, two campaigns
    staff = operator()
    admin = Client()
    admin.force_login(staff)
    response = admin.post(reverse("admin:rewards_earningrule_add"), {
        "store": coffee.pk, "enabled": "on", "rate_percent": "2", "min_points": "5", "max_points": "150", "tap_points": "21",
        "earn_on_card_payment": "on", "earn_on_invoice": "on", "hold_days": "7", "funding_source": "merchant",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = EarningRule.objects.get(store=coffee)
    admin_action(admin, "fundingaccount", "top_up", rule.funder.pk, points="100000", note="prepaid by Island Coffee")
    program = program_funder_get_or_create()
    admin_action(admin, "fundingaccount", "top_up", program.pk, points="100000", note="Flash's budget")
    for name, fields in [
        ("Double points", {"effect": "multiplier", "multiplier": "2"}),
        ("Coffee bonus", {"effect": "bonus", "bonus_points": "50", "budget_points": "100"}),
    ]:
        response = admin.post(reverse("admin:rewards_campaign_add"), campaign_form(program, name=name, **fields))
        assert response.status_code == 302, response.content.decode()[:3000]
        admin_action(admin, "campaign", "activate_campaigns", Campaign.objects.get(name=name).pk, reason="launch")

    # --- the cardholder: a programmed card handed out, linked in the app, becomes active
    holder = UserFactory()
    created = make_card(name="Ann's card")
    card_program(token=programming_link_create(card=created.card, kind=ProgrammingLink.Kind.PROGRAM).token, uid_hex="04A39493CC8680")
    token = APIClient().post(reverse("cards-app:token"), {"username": holder.username, "password": DEFAULT_PASSWORD}, format="json").json()["token"]
    app = APIClient()
    app.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    linked = app.post(reverse("cards-app:card-link"), {"activation_code": created.activation_code}, format="json")
    assert linked.status_code == 200 and linked.json()["status"] == "active"
    card = created.card
    card.refresh_from_db()
    fund_card(card, 50_000 * SAT)

    # --- a tap at the coffee shop for 10,000 sats, delivered by the worker
    first_invoice = pay_with_card(api_client, card, 1, coffee, coffee_headers, "0.0001")
    deliver()
    # 2 % of 10,000 = 200, held to the maximum of 150; +21 for the tap = 171; the double-points
    # campaign adds 171 more; the bonus campaign adds 50: 392 points, pending
    balance = app.get(reverse("rewards-app:balance")).json()
    assert (balance["pending_points"], balance["available_points"]) == (392, 0)
    award = Award.objects.get()
    assert (award.invoice_id, award.store_id, award.purchase_msat) == (first_invoice, coffee.pk, 10_000 * SAT)
    assert balance_points(rule.funder.account) == 100_000 - 171
    assert balance_points(program.account) == 100_000 - 221

    # --- a week later the worker's maturing task makes them available
    assert awards_mature(now=timezone.now() + timedelta(days=7, minutes=1)) == 1
    balance = app.get(reverse("rewards-app:balance")).json()
    assert (balance["pending_points"], balance["available_points"]) == (0, 392)

    # --- redeemed onto the card in the app (a replay of the request redeems nothing more)
    card_before = card_selectors.card_balance(card=card).available.value
    redeem = {"card_id": card.public_id, "points": 300}
    first = app.post(reverse("rewards-app:redeem-card"), redeem, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    replay = app.post(reverse("rewards-app:redeem-card"), redeem, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    assert first.status_code == 201 and replay.json() == first.json()
    assert card_selectors.card_balance(card=card).available.value == card_before + 300 * SAT
    assert app.get(reverse("rewards-app:balance")).json()["available_points"] == 92

    # --- and spent at another merchant (no rule there: no points)
    pay_with_card(api_client, card, 2, books, books_headers, "0.000003")
    deliver()
    assert card_selectors.card_balance(card=card).available.value == card_before
    assert merchant_account_get(store_id=books.pk).posted_msat == 300 * SAT
    assert Award.objects.count() == 1

    # --- a small purchase at the coffee shop: the minimum, the tap reward, the best multiplier,
    # and the rest of the bonus budget (50 left of 100)
    second_invoice = pay_with_card(api_client, card, 3, coffee, coffee_headers, "0.000001")
    deliver()
    second = Award.objects.get(invoice_id=second_invoice)
    assert second.points == (5 + 21) * 2 + 50
    assert app.get(reverse("rewards-app:balance")).json()["pending_points"] == 102

    # --- the coffee shop refunds it inside the hold period: the refunds feature's event
    event_emit(type="InvoiceRefunded", aggregate_type="invoice", aggregate_id=second_invoice, payload={"invoiceId": second_invoice})
    deliver()
    balance = app.get(reverse("rewards-app:balance")).json()
    assert (balance["pending_points"], balance["available_points"]) == (0, 92)
    second.refresh_from_db()
    assert second.status == "clawed_back"
    assert Campaign.objects.get(name="Coffee bonus").spent_msat == 50 * SAT  # its 50 came back
    assert balance_points(rule.funder.account) == 100_000 - 171
    assert balance_points(FundingAccount.objects.get(kind="program").account) == 100_000 - 221

    # the member's history shows every move, newest first
    history = app.get(reverse("rewards-app:history")).json()["results"]
    assert [(h["action"], h["pending_points"], h["available_points"]) for h in history] == [
        ("clawback", -102, 0), ("earn", 102, 0), ("redeem", 0, -300), ("mature", -392, 392), ("earn", 392, 0),
    ]
    assert ledger_reconcile().ok and member_lots_mismatch_list() == []
