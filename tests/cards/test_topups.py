"""Card top-ups are Greenfield invoices of the program store; each settled payment credits the card once."""

from decimal import Decimal

import pytest
from django.urls import reverse

from cards import selectors
from cards.models import CardTopUp
from cards.services.topups import TopUpNotRecordedYet, card_topup_create, card_topup_payment_credit
from flashpay.events.models import Event
from flashpay.ledger.models import Transaction
from flashpay.ledger.selectors import account_balance, account_get
from invoices.models import Invoice
from invoices.onchain.services import onchain_sync_once
from lightning.backends.base import PaymentStatus
from lightning.services import lightning_invoices_reconcile
from tests.concurrency import run_together
from tests.factories import UserFactory
from tests.invoices.conftest import deliver

from .factories import make_programmed_card
from .test_app_api import app_client

pytestmark = pytest.mark.django_db(transaction=True)

SAT = 1000


def posted(kind, reference):
    return account_balance(account=account_get(kind=kind, reference=reference)).posted.value


def test_any_amount_top_up_paid_on_chain_twice_credits_each_payment_once(program_store_onchain, bitcoind_client, bitcoind_miner):
    store = program_store_onchain
    onchain_sync_once(client=bitcoind_client)  # cursor at the current tip
    user = UserFactory()
    card = make_programmed_card(holder=user)
    # given: an any-amount top-up (a Greenfield TopUp invoice) payable on-chain and over Lightning
    body = app_client(user).post(reverse("cards-app:card-topups", args=[card.public_id]), {}, format="json").json()
    assert body["amount_msat"] is None and body["bitcoin_address"].startswith("bcrt1")
    assert body["bolt11"].startswith("lnbcrt1p")  # no amount in the BOLT11
    assert set(body["payment_links"]) == {"BTC-CHAIN", "BTC-LN"}
    assert Invoice.objects.get(pk=body["invoice_id"]).type == "TopUp"
    # when: two on-chain payments arrive and confirm (the store's MediumSpeed: one block)
    bitcoind_miner.send_to_address(body["bitcoin_address"], Decimal("0.0002"))
    bitcoind_miner.send_to_address(body["bitcoin_address"], Decimal("0.0001"))
    onchain_sync_once(client=bitcoind_client)
    deliver()
    # then: seen but unconfirmed money credits nothing yet
    assert selectors.card_balance(card=card).posted.value == 0
    bitcoind_miner.generate_to_address(1, bitcoind_miner.get_new_address())
    onchain_sync_once(client=bitcoind_client)
    deliver()
    deliver()
    # then: each payment credited once, from the program's wallet outside the node
    assert selectors.card_balance(card=card).posted.value == 30_000 * SAT
    topup = CardTopUp.objects.get()
    assert (topup.status, topup.credited_msat) == ("credited", 30_000 * SAT)
    assert Event.objects.filter(type="CardTopUpCredited").count() == 2
    assert posted("external", f"topup-wallet:{store.pk}") == -30_000 * SAT
    # the program store's merchant account never held on-chain money
    assert posted("merchant", store.pk) == 0
    assert Invoice.objects.get(pk=body["invoice_id"]).status == "Settled"


def test_fiat_top_up_is_priced_at_the_locked_rate_and_paid_over_lightning(program_store, flashpay_node, lnd_external, lnd_network):
    user = UserFactory()
    card = make_programmed_card(holder=user)
    # 15.75 JMD at 50,000 USD/BTC and 157.5 JMD/USD = 0.1 USD = 200 sat
    response = app_client(user).post(
        reverse("cards-app:card-topups", args=[card.public_id]), {"amount": "15.75", "currency": "JMD"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["amount_msat"] == 200 * SAT
    invoice = Invoice.objects.get(pk=body["invoice_id"])
    assert (invoice.currency, invoice.amount) == ("JMD", Decimal("15.75"))
    assert lnd_external.pay(body["bolt11"], fee_limit_msat=0, timeout=10).status == PaymentStatus.SUCCESS
    lightning_invoices_reconcile(backend=flashpay_node, node_pubkey=lnd_network.nodes["flashpay"].pubkey)
    deliver()
    assert selectors.card_balance(card=card).posted.value == 200 * SAT
    # node -> program store (invoices app) -> card: the store passed it on, the node holds it
    assert posted("merchant", program_store.pk) == 0
    assert posted("node", "lightning") == -200 * SAT


def test_top_ups_without_a_program_store_are_refused_and_write_nothing(settings):
    user = UserFactory()
    card = make_programmed_card(holder=user)
    url = reverse("cards-app:card-topups", args=[card.public_id])
    settings.FLASH_PROGRAM_STORE_ID = ""
    response = app_client(user).post(url, {"amount_msat": 1_000 * SAT}, format="json")
    assert response.status_code == 503 and response.json()["code"] == "topups-not-configured"
    settings.FLASH_PROGRAM_STORE_ID = "no-such-store"
    assert app_client(user).post(url, {}, format="json").status_code == 503
    assert not CardTopUp.objects.exists() and not Invoice.objects.exists()


def test_a_payment_that_overtakes_its_top_up_row_is_retried_not_dropped():
    # the invoice's metadata says "top-up" but the row is not there: the delivery must fail (retry)
    with pytest.raises(TopUpNotRecordedYet):
        card_topup_payment_credit(invoice_id="inv-missing", payment_id="tx-0", amount_msat=1000, is_topup_invoice=True)
    # any other invoice of any store is not a top-up: nothing happens
    assert card_topup_payment_credit(invoice_id="inv-missing", payment_id="tx-0", amount_msat=1000) is None
    assert not Transaction.objects.exists()


def test_concurrent_deliveries_of_one_payment_credit_it_once(program_store):
    card = make_programmed_card()
    topup = card_topup_create(card=card, amount=Decimal("0.0001"), currency="BTC")

    def credit():
        card_topup_payment_credit(invoice_id=topup.invoice_id, payment_id="ab" * 32 + "-0", amount_msat=10_000 * SAT)

    assert run_together(*[credit] * 4).errors == []
    assert selectors.card_balance(card=card).posted.value == 10_000 * SAT
    topup.refresh_from_db()
    assert topup.credited_msat == 10_000 * SAT
    assert Event.objects.filter(type="CardTopUpCredited").count() == 1
