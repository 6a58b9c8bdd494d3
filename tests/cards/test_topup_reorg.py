"""A card top-up resting on a chain payment stays reversible: held until settled, taken back when a
reorg or a double spend undoes it, with what the card already spent owed on its receivable."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from cards import selectors
from cards.models import CardTopUp, CardTopUpPayment
from cards.services.topups import card_topup_create, card_topup_payment_apply
from flashpay.events.models import Event
from flashpay.ledger.accounts import card_receivable_account
from flashpay.ledger.selectors import account_balance, account_get
from flashpay.ledger.services import ledger_reconcile
from invoices.models import Invoice, InvoicePayment
from invoices.onchain.services import onchain_sync_once
from tests.factories import StoreFactory, UserFactory
from tests.invoices.conftest import deliver
from tests.invoices.factories import make_invoice, store_setup_payment_methods

from .factories import fund_card, make_programmed_card, tap_params
from .test_app_api import app_client

pytestmark = pytest.mark.django_db(transaction=True)

SAT = 1000


def _mine(miner, n=1):
    return miner.generate_to_address(n, miner.get_new_address())


def _sync(client):
    onchain_sync_once(client=client)
    deliver()


def _card_state(card):
    balance = selectors.card_balance(card=card)
    return {
        "posted": balance.posted.value,
        "available": balance.available.value,
        "incoming": balance.pending_credit.value,
        "owed": selectors.card_owed_msat(card=card),
    }


def _spend_at_merchant(card, sats, counter=1):
    """The card pays a FlashPay merchant's invoice over LNURL-withdraw (settled in the ledger)."""
    merchant = StoreFactory(name="Corner shop")
    store_setup_payment_methods(store=merchant)
    invoice = make_invoice(store=merchant, amount=str(sats), currency="SATS")
    bolt11 = invoice.prompts.get(payment_method_id="BTC-LN").destination
    client = APIClient()
    offer = client.get(reverse("cards:tap"), tap_params(card, counter), REMOTE_ADDR="198.51.100.10").json()
    paid = client.get(reverse("cards:tap-callback"), {"k1": offer["k1"], "pr": bolt11}, REMOTE_ADDR="198.51.100.10")
    assert paid.json() == {"status": "OK"}, paid.json()
    deliver()
    return merchant, invoice


def _paid_top_up(user, card, miner, btc):
    body = app_client(user).post(reverse("cards-app:card-topups", args=[card.public_id]), {}, format="json").json()
    txid = miner.send_to_address(body["bitcoin_address"], Decimal(btc))
    return body, txid


def _reconciled_clean():
    report = ledger_reconcile()
    assert report.ok, report
    return report


def test_reorged_top_up_is_taken_back_and_what_was_spent_is_owed(program_store_onchain, bitcoind_client, bitcoind_miner, capsys):
    store = program_store_onchain
    _sync(bitcoind_client)
    user = UserFactory()
    card = make_programmed_card(holder=user)

    # given: a 20 000 sat on-chain top-up, seen in the mempool
    body, txid = _paid_top_up(user, card, bitcoind_miner, "0.0002")
    _sync(bitcoind_client)
    # then: it is incoming on the card, not spendable (the store's MediumSpeed wants one block)
    assert _card_state(card) == {"posted": 0, "available": 0, "incoming": 20_000 * SAT, "owed": 0}
    assert app_client(user).get(reverse("cards-app:cards")).json()[0]["incoming_msat"] == 20_000 * SAT

    # when: a block confirms it
    block = _mine(bitcoind_miner)[0]
    _sync(bitcoind_client)
    assert _card_state(card) == {"posted": 20_000 * SAT, "available": 20_000 * SAT, "incoming": 0, "owed": 0}

    # and: the holder spends 15 000 sat of it at a FlashPay merchant
    merchant, _invoice = _spend_at_merchant(card, 15_000)
    assert _card_state(card)["posted"] == 5_000 * SAT

    # when: a reorg takes the block away (the payment is back in the mempool, unconfirmed)
    bitcoind_client.invalidate_block(block)
    _sync(bitcoind_client)
    # then: the credit is taken back: the card gives its 5 000 sat, the holder owes the 15 000
    # it spent, and the payment waits as incoming again
    assert _card_state(card) == {"posted": 0, "available": 0, "incoming": 20_000 * SAT, "owed": 15_000 * SAT}
    undone = Event.objects.get(type="InvoicePaymentUndone")
    assert (undone.payload["reason"], undone.payload["previousStatus"]) == ("unconfirmed", "Settled")
    assert undone.payload["payment"]["status"] == "Processing"
    reversed_event = Event.objects.get(type="CardTopUpReversed")
    assert (reversed_event.payload["taken_from_card_msat"], reversed_event.payload["owed_msat"]) == (5_000 * SAT, 15_000 * SAT)
    assert Invoice.objects.get(pk=body["invoice_id"]).status == "Settled"  # still paid, waiting to confirm again
    _reconciled_clean()

    # when: the payer double-spends it away and the chain moves on
    bitcoind_client.call("dropmempooltx", txid)
    _mine(bitcoind_miner, 2)
    _sync(bitcoind_client)
    # then: nothing of it stays on the card; the debt is explicit; the merchant keeps its sale
    assert _card_state(card) == {"posted": 0, "available": 0, "incoming": 0, "owed": 15_000 * SAT}
    assert InvoicePayment.objects.get(invoice_id=body["invoice_id"]).status == "Invalid"
    assert Invoice.objects.get(pk=body["invoice_id"]).status == "Invalid"
    topup = CardTopUp.objects.get()
    assert (topup.status, topup.credited_msat, topup.pending_msat) == ("reversed", 0, 0)
    row = CardTopUpPayment.objects.get()
    assert (row.state, row.reversed_msat, row.owed_msat) == ("undone", 20_000 * SAT, 15_000 * SAT)
    assert account_balance(account=account_get(kind="external", reference=f"topup-wallet:{store.pk}")).posted.value == 0
    assert account_balance(account=card_receivable_account(card_id=card.public_id)).posted.value == -15_000 * SAT
    assert account_balance(account=account_get(kind="merchant", reference=merchant.pk)).posted.value == 15_000 * SAT
    report = _reconciled_clean()
    assert [(r.account, r.owed.value) for r in report.receivables] == [
        (f"receivable:card:{card.public_id} (Owed by the holder of card {card.public_id})", 15_000 * SAT)
    ]
    call_command("ledger_reconcile")
    assert f"owes {15_000 * SAT} msat" in capsys.readouterr().out
    # and: the holder sees the debt in the app, and the history tells the top-up was taken back
    card_json = app_client(user).get(reverse("cards-app:cards")).json()[0]
    assert (card_json["balance_msat"], card_json["owed_msat"]) == (0, 15_000 * SAT)
    history = app_client(user).get(reverse("cards-app:card-history", args=[card.public_id])).json()["results"]
    assert "topup_reversal" in [item["kind"] for item in history]


def test_reorged_top_up_that_confirms_again_is_credited_again_and_repays_first(program_store_onchain, bitcoind_client, bitcoind_miner):
    _sync(bitcoind_client)
    user = UserFactory()
    card = make_programmed_card(holder=user)
    body, _txid = _paid_top_up(user, card, bitcoind_miner, "0.0002")
    block = _mine(bitcoind_miner)[0]
    _sync(bitcoind_client)
    _spend_at_merchant(card, 15_000)

    # when: the block is reorged out, then the payment confirms again on the new branch
    bitcoind_client.invalidate_block(block)
    _sync(bitcoind_client)
    assert _card_state(card)["owed"] == 15_000 * SAT
    _mine(bitcoind_miner)
    _sync(bitcoind_client)

    # then: credited again, what the holder owed paid first: exactly where it was before the reorg
    assert _card_state(card) == {"posted": 5_000 * SAT, "available": 5_000 * SAT, "incoming": 0, "owed": 0}
    topup = CardTopUp.objects.get()
    assert (topup.status, topup.credited_msat, topup.pending_msat) == ("credited", 20_000 * SAT, 0)
    assert Event.objects.filter(type="CardTopUpCredited").count() == 2
    assert Invoice.objects.get(pk=body["invoice_id"]).status == "Settled"
    _reconciled_clean()
    # and: a redelivery of every event moves nothing more
    for event in Event.objects.filter(type__in=["InvoiceReceivedPayment", "InvoicePaymentSettled", "InvoicePaymentUndone"]):
        from cards.handlers import invoice_payment_topup

        invoice_payment_topup(event)
    assert _card_state(card) == {"posted": 5_000 * SAT, "available": 5_000 * SAT, "incoming": 0, "owed": 0}


def test_a_zero_conf_top_up_double_spent_after_it_was_spent_leaves_a_receivable(program_store):
    # given: a top-up whose payment settled at once (HighSpeed) and was partly spent
    card = make_programmed_card()
    topup = card_topup_create(card=card, amount=Decimal("0.0001"), currency="BTC")
    payment_id = "ab" * 32 + "-0"
    card_topup_payment_apply(invoice_id=topup.invoice_id, payment_id=payment_id, amount_msat=10_000 * SAT, status="Settled")
    fund_card(card, 1_000 * SAT)  # some other money on the card too
    _spend_at_merchant(card, 8_000)
    assert _card_state(card)["posted"] == 3_000 * SAT

    # when: its payment is double-spent away
    card_topup_payment_apply(invoice_id=topup.invoice_id, payment_id=payment_id, amount_msat=10_000 * SAT, status="Invalid")

    # then: the card gives all it has, the rest is owed; the card never goes below zero
    assert _card_state(card) == {"posted": 0, "available": 0, "incoming": 0, "owed": 7_000 * SAT}
    # and: the holder's next top-up pays the debt first
    second = card_topup_create(card=card, amount=Decimal("0.0001"), currency="BTC")
    card_topup_payment_apply(invoice_id=second.invoice_id, payment_id="cd" * 32 + "-1", amount_msat=10_000 * SAT, status="Settled")
    assert _card_state(card) == {"posted": 3_000 * SAT, "available": 3_000 * SAT, "incoming": 0, "owed": 0}
    _reconciled_clean()


def test_a_top_up_removed_while_pending_never_reaches_the_card(program_store):
    card = make_programmed_card()
    topup = card_topup_create(card=card, amount=Decimal("0.0001"), currency="BTC")
    payment_id = "ef" * 32 + "-0"
    card_topup_payment_apply(invoice_id=topup.invoice_id, payment_id=payment_id, amount_msat=10_000 * SAT, status="Processing")
    assert _card_state(card) == {"posted": 0, "available": 0, "incoming": 10_000 * SAT, "owed": 0}
    # a tap cannot spend incoming money
    assert APIClient().get(reverse("cards:tap"), tap_params(card, 1)).status_code == 400

    card_topup_payment_apply(invoice_id=topup.invoice_id, payment_id=payment_id, amount_msat=10_000 * SAT, status="Invalid")
    assert _card_state(card) == {"posted": 0, "available": 0, "incoming": 0, "owed": 0}
    topup.refresh_from_db()
    assert (topup.status, topup.credited_msat, topup.pending_msat) == ("open", 0, 0)
    assert not Event.objects.filter(type__in=["CardTopUpCredited", "CardTopUpReversed"]).exists()
    _reconciled_clean()
