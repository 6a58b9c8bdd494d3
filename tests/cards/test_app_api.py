"""The Flash app API: token login, my cards, balances, history, freeze, limits, link, top-up."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from cards.models import AppToken, CardTopUp
from flashpay.events.models import Event
from invoices.models import Invoice
from lightning.backends.base import PaymentStatus
from lightning.services import lightning_invoices_reconcile
from tests.factories import DEFAULT_PASSWORD, StoreFactory, UserFactory
from tests.invoices.conftest import deliver
from tests.invoices.factories import make_invoice, store_setup_payment_methods

from .factories import fund_card, make_card, make_programmed_card, tap_params

pytestmark = pytest.mark.django_db(transaction=True)

SAT = 1000


def app_client(user) -> APIClient:
    response = APIClient().post(
        reverse("cards-app:token"), {"username": user.username, "password": DEFAULT_PASSWORD}, format="json"
    )
    assert response.status_code == 201, response.json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
    return client


def test_login_issues_a_token_stored_only_as_a_hash():
    user = UserFactory()
    response = APIClient().post(
        reverse("cards-app:token"), {"username": user.email, "password": DEFAULT_PASSWORD}, format="json"
    )
    assert response.status_code == 201
    token = response.json()["token"]
    assert AppToken.objects.get(user=user).token_hash != token
    assert token not in str(list(AppToken.objects.values_list()))


def test_wrong_password_and_missing_token_are_refused():
    user = UserFactory()
    bad = APIClient().post(reverse("cards-app:token"), {"username": user.username, "password": "nope"}, format="json")
    assert bad.status_code == 401
    assert not AppToken.objects.exists()
    assert APIClient().get(reverse("cards-app:cards")).status_code == 401
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION="Bearer " + "x" * 43)
    assert forged.get(reverse("cards-app:cards")).status_code == 401
    # a Greenfield-style header is not an app token
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION="token abc")
    assert other.get(reverse("cards-app:cards")).status_code == 401


def test_password_guessing_is_limited_per_address_and_told_when_to_retry(settings):
    settings.CARD_RATE_LIMIT_PER_CARD = 2
    user = UserFactory()

    def login(password, ip):
        return APIClient().post(
            reverse("cards-app:token"), {"username": user.username, "password": password}, format="json", REMOTE_ADDR=ip
        )

    assert [login("nope", "192.0.2.5").status_code for _ in range(2)] == [401, 401]
    refused = login(DEFAULT_PASSWORD, "192.0.2.5")  # even the right password, until the minute is over
    assert refused.status_code == 429
    assert refused.json() == {"code": "rate-limited", "message": "too many login attempts, try again in a minute"}
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert not AppToken.objects.exists()
    assert login(DEFAULT_PASSWORD, "192.0.2.6").status_code == 201  # another address


def test_link_by_activation_code_then_list_and_detail_with_balance():
    user = UserFactory()
    created = make_card(name="Blue card")
    client = app_client(user)
    assert client.get(reverse("cards-app:cards")).json() == []
    linked = client.post(reverse("cards-app:card-link"), {"activation_code": created.activation_code}, format="json")
    assert linked.status_code == 200
    assert linked.json()["id"] == created.card.public_id
    fund_card(created.card, 1_234 * SAT)
    cards = client.get(reverse("cards-app:cards")).json()
    assert [c["name"] for c in cards] == ["Blue card"]
    detail = client.get(reverse("cards-app:card", args=[created.card.public_id])).json()
    assert detail["balance_msat"] == 1_234 * SAT
    assert detail["available_msat"] == 1_234 * SAT
    # an unknown code
    assert client.post(reverse("cards-app:card-link"), {"activation_code": "AAAA-BBBB-CCCC"}, format="json").status_code == 404


def test_someone_elses_card_is_not_found_for_every_endpoint():
    owner, stranger = UserFactory(), UserFactory()
    card = make_card(holder=owner).card
    client = app_client(stranger)
    for name, method in [
        ("card", "get"), ("card-history", "get"), ("card-freeze", "post"), ("card-unfreeze", "post"),
        ("card-limits", "put"), ("card-topups", "post"),
    ]:
        response = getattr(client, method)(reverse(f"cards-app:{name}", args=[card.public_id]), {}, format="json")
        assert response.status_code == 404, name
    # and linking it with its code fails too (it has a holder)
    card.refresh_from_db()
    assert card.holder == owner and card.status == "inactive"


def test_freeze_and_unfreeze_my_card():
    user = UserFactory()
    card = make_programmed_card(holder=user)
    client = app_client(user)
    frozen = client.post(reverse("cards-app:card-freeze", args=[card.public_id]))
    assert frozen.status_code == 200 and frozen.json()["status"] == "frozen"
    # a frozen card's tap is refused
    assert APIClient().get(reverse("cards:tap"), tap_params(card, 1)).json()["reason"] == "this card is frozen"
    again = client.post(reverse("cards-app:card-freeze", args=[card.public_id]))
    assert again.status_code == 409
    assert client.post(reverse("cards-app:card-unfreeze", args=[card.public_id])).json()["status"] == "active"


def test_limits_within_program_maximums(settings):
    settings.CARD_APP_MAX_PER_TRANSACTION_MSAT = 50_000 * SAT
    settings.CARD_APP_MAX_DAILY_MSAT = 200_000 * SAT
    user = UserFactory()
    card = make_programmed_card(holder=user)
    client = app_client(user)
    url = reverse("cards-app:card-limits", args=[card.public_id])
    ok = client.put(url, {"per_transaction_limit_msat": 10_000 * SAT, "daily_limit_msat": 40_000 * SAT}, format="json")
    assert ok.status_code == 200
    assert (ok.json()["per_transaction_limit_msat"], ok.json()["daily_limit_msat"]) == (10_000 * SAT, 40_000 * SAT)
    over = client.put(url, {"per_transaction_limit_msat": 60_000 * SAT, "daily_limit_msat": 100_000 * SAT}, format="json")
    assert over.status_code == 400
    assert over.json()[0]["path"] == "per_transaction_limit_msat"
    inverted = client.put(url, {"per_transaction_limit_msat": 30_000 * SAT, "daily_limit_msat": 20_000 * SAT}, format="json")
    assert inverted.status_code == 400
    negative = client.put(url, {"per_transaction_limit_msat": -1, "daily_limit_msat": 1}, format="json")
    assert negative.status_code == 400
    card.refresh_from_db()
    assert (card.per_transaction_limit_msat, card.daily_limit_msat) == (10_000 * SAT, 40_000 * SAT)


def test_top_up_invoice_credits_the_card_once_and_history_lists_everything(program_store, flashpay_node, lnd_external, lnd_network):
    # given: my card
    user = UserFactory()
    card = make_programmed_card(holder=user)
    client = app_client(user)
    # when: I ask for a 5 000 sat top-up and the rest of the network pays it
    response = client.post(reverse("cards-app:card-topups", args=[card.public_id]), {"amount_msat": 5_000 * SAT}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    # then: it is a Greenfield invoice of the program store with its hosted checkout page
    assert body["bolt11"].startswith("lnbcrt50u")
    assert body["checkout_link"].endswith(f"/i/{body['invoice_id']}")
    assert (body["invoice_status"], body["amount_msat"], body["credited_msat"]) == ("New", 5_000 * SAT, 0)
    assert Invoice.objects.get(pk=body["invoice_id"]).store_id == program_store.pk
    assert lnd_external.pay(body["bolt11"], fee_limit_msat=0, timeout=10).status == PaymentStatus.SUCCESS
    lightning_invoices_reconcile(backend=flashpay_node, node_pubkey=lnd_network.nodes["flashpay"].pubkey)
    deliver()
    deliver()  # a second sweep (or a redelivery) credits nothing more
    # then
    detail = client.get(reverse("cards-app:card", args=[card.public_id])).json()
    assert detail["balance_msat"] == 5_000 * SAT
    topup = CardTopUp.objects.get()
    assert (topup.status, topup.credited_msat) == ("credited", 5_000 * SAT)
    assert Event.objects.filter(type="CardTopUpCredited").count() == 1
    assert Invoice.objects.get(pk=body["invoice_id"]).status == "Settled"
    # and a tap paying a FlashPay merchant's invoice shows in the history with the merchant's name
    store = StoreFactory(name="Kingston Coffee")
    store_setup_payment_methods(store=store)
    invoice = make_invoice(store=store, amount="0.000015", currency="BTC")
    bolt11 = invoice.prompts.get(payment_method_id="BTC-LN").destination
    k1 = APIClient().get(reverse("cards:tap"), tap_params(card, 1)).json()["k1"]
    paid = APIClient().get(reverse("cards:tap-callback"), {"k1": k1, "pr": bolt11})
    assert paid.json() == {"status": "OK"}
    history = client.get(reverse("cards-app:card-history", args=[card.public_id]), {"page_size": 1}).json()
    assert history["count"] == 2
    assert history["results"][0]["kind"] == "payment"
    assert history["results"][0]["amount_msat"] == -1_500 * SAT
    assert history["results"][0]["merchant_name"] == "Kingston Coffee"
    second = client.get(history["next"]).json()
    assert second["results"][0]["kind"] == "topup" and second["results"][0]["amount_msat"] == 5_000 * SAT
    assert second["results"][0]["reference"] == body["invoice_id"]


def test_top_up_validation(program_store):
    user = UserFactory()
    card = make_programmed_card(holder=user)
    client = app_client(user)
    url = reverse("cards-app:card-topups", args=[card.public_id])
    assert client.post(url, {"amount_msat": 0}, format="json").status_code == 400
    assert client.post(url, {"amount_msat": "ten"}, format="json").status_code == 400
    assert client.post(url, {"amount": "-1", "currency": "USD"}, format="json").status_code == 400
    assert client.post(url, {"amount": "1", "amount_msat": 1000}, format="json").status_code == 400
    over = client.post(url, {"amount": "0.2", "currency": "BTC"}, format="json")
    assert over.status_code == 400 and over.json()[0]["path"] == "amount"
    assert client.post(url, {"amount": "5", "currency": "XYZ"}, format="json").status_code == 422
    assert not CardTopUp.objects.exists()
    assert not Invoice.objects.exists()


def test_history_shows_a_paid_external_payment_once_and_a_failed_one_as_voided(flashpay_node, lnd_external, lnd_network):
    user = UserFactory()
    card = make_programmed_card(holder=user)
    fund_card(card, 10_000 * SAT)
    client = app_client(user)
    paid = lnd_external.create_invoice(amount_msat=2_000 * SAT)
    k1 = APIClient().get(reverse("cards:tap"), tap_params(card, 1)).json()["k1"]
    assert APIClient().get(reverse("cards:tap-callback"), {"k1": k1, "pr": paid.bolt11}).json() == {"status": "OK"}
    failing = lnd_external.create_invoice(amount_msat=1_000 * SAT)
    lnd_network.inject(payment_hash=failing.payment_hash, fail=True)
    k1 = APIClient().get(reverse("cards:tap"), tap_params(card, 2)).json()["k1"]
    assert APIClient().get(reverse("cards:tap-callback"), {"k1": k1, "pr": failing.bolt11}).status_code == 400
    history = client.get(reverse("cards-app:card-history", args=[card.public_id])).json()
    rows = [(r["kind"], r["status"], r["amount_msat"], r["reference"]) for r in history["results"]]
    fee = lnd_network.fee_for(2_000 * SAT)
    assert history["count"] == 3
    assert rows[0][:2] == ("payment", "voided") and rows[0][3] == failing.payment_hash
    assert rows[1] == ("payment", "posted", -(2_000 * SAT + fee), paid.payment_hash)
    assert rows[2][:3] == ("topup", "posted", 10_000 * SAT)
