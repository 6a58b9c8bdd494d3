"""End to end at a FlashPay merchant: card pays a Greenfield invoice inside the ledger, the
merchant is credited, and a settlement batch pays the merchant (LNURL-pay) minus the fee."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from cards import selectors
from cards.models import CardPayment, SettlementBatch
from cards.services.settlement import (
    settlement_run,
    settlement_schedule_set,
)
from flashpay.errors import FieldError
from flashpay.events.models import Event
from flashpay.events.services import event_deliveries_run
from flashpay.ledger.accounts import CARD_SETTLEMENT_FEES_REFERENCE
from flashpay.ledger.selectors import account_balance, account_get
from invoices.selectors import invoice_payment_methods_data
from lightning.backends.base import InvoiceState
from lightning.services import lightning_invoice_create
from tests.factories import StoreFactory
from tests.fixtures.nodes import node_clients_forget
from tests.invoices.factories import make_invoice, store_setup_payment_methods

from .factories import fund_card, make_programmed_card, tap_params

pytestmark = pytest.mark.django_db(transaction=True)

SAT = 1000


@pytest.fixture
def lnurlp_server(lnd_external):
    """A merchant's LNURL-pay service (LUD-06) whose invoices are minted by the external node."""
    state = {"fail": False, "invoices": [], "metadata": '[["text/plain","Kingston Coffee"]]'}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _json(self, body):
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802
            url = urlsplit(self.path)
            if url.path == "/lnurlp":
                self._json({
                    "tag": "payRequest", "callback": f"http://127.0.0.1:{server.server_port}/cb",
                    "minSendable": 1000, "maxSendable": 10**12, "metadata": state["metadata"],
                })
            elif state["fail"]:
                self._json({"status": "ERROR", "reason": "wallet offline"})
            else:
                amount = int(parse_qs(url.query)["amount"][0])
                if state.get("honest", True):
                    invoice = lnd_external.create_invoice(amount_msat=amount, description=state["metadata"])
                else:
                    invoice = lnd_external.create_invoice(amount_msat=amount, memo="something else")
                state["invoices"].append(invoice)
                self._json({"pr": invoice.bolt11, "routes": []})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_port}/lnurlp"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def shop(flashpay_node):
    node_clients_forget()
    store = StoreFactory(name="Kingston Coffee")
    store_setup_payment_methods(store=store)
    yield store
    node_clients_forget()


def pay_invoice_with_card(card, counter, invoice):
    bolt11 = next(m["destination"] for m in invoice_payment_methods_data(invoice=invoice) if m["paymentMethodId"] == "BTC-LN")
    k1 = APIClient().get(reverse("cards:tap"), tap_params(card, counter)).json()["k1"]
    return APIClient().get(reverse("cards:tap-callback"), {"k1": k1, "pr": bolt11})


def merchant_posted(store):
    return account_balance(account=account_get(kind="merchant", reference=store.id)).posted.value


def test_a_card_payment_names_the_merchant_when_it_pays(shop, flashpay_node):
    # given: a default install (nothing configured) and a store's Greenfield invoice
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    invoice = make_invoice(store=shop, amount="0.00002", currency="BTC")
    # when: the card pays it
    assert pay_invoice_with_card(card, 1, invoice).json() == {"status": "OK"}
    # then: the payment and its event name the store at once, before any outbox delivery
    payment = CardPayment.objects.get()
    assert (payment.merchant_store_id, payment.merchant_name) == (shop.id, "Kingston Coffee")
    event = Event.objects.get(type="CardPaymentSucceeded")
    assert event.payload["merchantStoreId"] == shop.id
    # and an invoice of our node that is no store's names nobody
    other = lightning_invoice_create(backend=flashpay_node, amount_msat=1_000 * SAT)
    k1 = APIClient().get(reverse("cards:tap"), tap_params(card, 2)).json()["k1"]
    assert APIClient().get(reverse("cards:tap-callback"), {"k1": k1, "pr": other.bolt11}).json() == {"status": "OK"}
    assert CardPayment.objects.get(payment_hash=other.payment_hash).merchant_store_id == ""


def test_card_pays_a_flashpay_merchant_and_is_settled_in_a_batch(shop, flashpay_node, lnurlp_server, lnd_external, settings):
    settings.DEBUG = True  # the test LNURL-pay service is plain http on loopback
    # given: a funded card paying two Greenfield invoices of a FlashPay store
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    first = make_invoice(store=shop, amount="0.00002", currency="BTC")
    second = make_invoice(store=shop, amount="0.00003", currency="BTC")
    assert pay_invoice_with_card(card, 1, first).json() == {"status": "OK"}
    assert pay_invoice_with_card(card, 2, second).json() == {"status": "OK"}
    event_deliveries_run()
    # then: the invoices are settled, the merchant credited, our node untouched
    first.refresh_from_db()
    assert first.status == "Settled"
    assert merchant_posted(shop) == 5_000 * SAT
    assert selectors.card_balance(card=card).posted.value == 5_000 * SAT
    assert all(p.kind == "internal" for p in CardPayment.objects.all())
    event_deliveries_run()  # the invoices app's InvoicePaymentSettled names the store
    assert set(CardPayment.objects.values_list("merchant_name", flat=True)) == {"Kingston Coffee"}
    # when: the day's settlement runs with a 1 % fee
    settlement_schedule_set(store_id=shop.id, destination_type="lnurlp", destination=lnurlp_server["url"], fee_ppm=10_000)
    batches = settlement_run()
    # then
    assert len(batches) == 1
    batch = batches[0]
    assert batch.status == SettlementBatch.Status.PAID, batch.failure_reason
    assert (batch.gross_msat, batch.fee_msat, batch.net_msat) == (5_000 * SAT, 50 * SAT, 4_950 * SAT)
    paid = lnurlp_server["invoices"][0]
    assert lnd_external.lookup_invoice(paid.payment_hash).state == InvoiceState.SETTLED
    assert merchant_posted(shop) == 0
    assert account_balance(account=account_get(kind="fees", reference=CARD_SETTLEMENT_FEES_REFERENCE)).posted.value == 50 * SAT
    assert set(CardPayment.objects.values_list("settlement_batch_id", flat=True)) == {batch.pk}
    assert set(CardPayment.objects.values_list("merchant_name", flat=True)) == {"Kingston Coffee"}
    csv_text = selectors.settlement_batch_csv(batch=batch)
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("batch_id,store_id,payment_id")
    assert len(lines) == 4
    assert lines[-1].endswith("TOTAL,,,,5000000,50000,4950000")
    # every step of the batch is in the outbox
    changes = Event.objects.filter(type="CardSettlementBatchChanged", aggregate_id=batch.public_id).order_by("pk")
    assert [(e.payload["from"], e.payload["to"]) for e in changes] == [("", "open"), ("open", "paying"), ("paying", "paid")]
    # and nothing more to settle today
    assert settlement_run() == []


def test_failed_payout_gives_the_money_back_to_the_merchant(shop, lnurlp_server, settings):
    settings.DEBUG = True
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    assert pay_invoice_with_card(card, 1, make_invoice(store=shop, amount="0.00002", currency="BTC")).json()["status"] == "OK"
    event_deliveries_run()
    settlement_schedule_set(store_id=shop.id, destination_type="lnurlp", destination=lnurlp_server["url"])
    lnurlp_server["fail"] = True
    [batch] = settlement_run()
    assert batch.status == SettlementBatch.Status.FAILED
    assert "wallet offline" in batch.failure_reason
    balance = account_balance(account=account_get(kind="merchant", reference=shop.id))
    assert balance.posted.value == 2_000 * SAT and balance.available.value == 2_000 * SAT
    assert CardPayment.objects.get().settlement_batch is None
    # the next run retries and pays
    lnurlp_server["fail"] = False
    [again] = settlement_run()
    assert again.status == SettlementBatch.Status.PAID
    assert merchant_posted(shop) == 0


def test_minimum_and_onchain_batches(shop, settings):
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    assert pay_invoice_with_card(card, 1, make_invoice(store=shop, amount="0.00002", currency="BTC")).json()["status"] == "OK"
    event_deliveries_run()
    settlement_schedule_set(
        store_id=shop.id, destination_type="onchain", destination="bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
        minimum_msat=5_000 * SAT,
    )
    assert settlement_run() == []  # below the minimum: nothing batched, nothing reserved
    assert account_balance(account=account_get(kind="merchant", reference=shop.id)).available.value == 2_000 * SAT
    settlement_schedule_set(
        store_id=shop.id, destination_type="onchain", destination="bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
    )
    [batch] = settlement_run()
    assert batch.status == SettlementBatch.Status.AWAITING_MANUAL
    assert account_balance(account=account_get(kind="merchant", reference=shop.id)).available.value == 0
    from cards.services.settlement import settlement_batch_mark_paid

    assert settlement_batch_mark_paid(batch=batch).status == SettlementBatch.Status.PAID
    assert merchant_posted(shop) == 0


@pytest.mark.parametrize(
    ("kind", "destination"),
    [("lightning_address", "not-an-address"), ("onchain", "hello"), ("lnurlp", "ftp://x"), ("carrier-pigeon", "x")],
)
def test_bad_destinations_are_refused(kind, destination):
    with pytest.raises(FieldError):
        settlement_schedule_set(store_id="s", destination_type=kind, destination=destination)
    from cards.models import MerchantSettlementSchedule

    assert not MerchantSettlementSchedule.objects.exists()



def test_payout_with_unknown_outcome_is_reconciled_on_the_next_run(shop, flashpay_node, lnurlp_server, lnd_network, settings):
    settings.DEBUG = True
    settings.CARD_PAYMENT_TIMEOUT = 1
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    assert pay_invoice_with_card(card, 1, make_invoice(store=shop, amount="0.00002", currency="BTC")).json()["status"] == "OK"
    event_deliveries_run()
    settlement_schedule_set(store_id=shop.id, destination_type="lnurlp", destination=lnurlp_server["url"])
    lnd_network.inject(payer="flashpay", delay=2.5)  # the payout hangs past our timeout
    [batch] = settlement_run()
    assert batch.status == SettlementBatch.Status.PAYING
    assert account_balance(account=account_get(kind="merchant", reference=shop.id)).available.value == 0
    time.sleep(3)
    assert settlement_run() == []
    batch.refresh_from_db()
    assert batch.status == SettlementBatch.Status.PAID
    assert merchant_posted(shop) == 0


def test_a_card_can_top_up_another_card_inside_flashpay(program_store, flashpay_node, settings):
    from cards.services.topups import card_topup_create

    payer, payee = make_programmed_card(), make_programmed_card(uid="04A39493CC8681")
    fund_card(payer, 10_000 * SAT)
    topup = card_topup_create(card=payee, amount_msat=3_000 * SAT)
    bolt11 = selectors.card_topup_view(topup=topup).bolt11
    k1 = APIClient().get(reverse("cards:tap"), tap_params(payer, 1)).json()["k1"]
    assert APIClient().get(reverse("cards:tap-callback"), {"k1": k1, "pr": bolt11}).json() == {"status": "OK"}
    for _ in range(3):  # card payment -> invoice payment -> top-up credit
        event_deliveries_run()
    assert selectors.card_balance(card=payer).posted.value == 7_000 * SAT
    assert selectors.card_balance(card=payee).posted.value == 3_000 * SAT
    # the node's account is back where it started: the money never left FlashPay, and the
    # program store only passed it on
    assert account_balance(account=account_get(kind="node", reference="lightning")).posted.value == 0
    assert merchant_posted(program_store) == 0
    # and the program store cannot be given a settlement schedule (it is no merchant)
    with pytest.raises(FieldError):
        settlement_schedule_set(store_id=program_store.pk, destination_type="lightning_address", destination="a@b.example")


def test_lightning_address_resolves_to_its_well_known_lnurlp_url():
    from cards.services.settlement import _lnurlp_url

    assert _lnurlp_url("lightning_address", "coffee@pay.example.com") == "https://pay.example.com/.well-known/lnurlp/coffee"
    assert settlement_schedule_set(
        store_id="s1", destination_type="lightning_address", destination="coffee@pay.example.com"
    ).destination == "coffee@pay.example.com"


def test_payee_invoice_not_committing_to_the_metadata_is_not_paid(shop, lnurlp_server, lnd_external, settings):
    settings.DEBUG = True
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    assert pay_invoice_with_card(card, 1, make_invoice(store=shop, amount="0.00002", currency="BTC")).json()["status"] == "OK"
    event_deliveries_run()
    settlement_schedule_set(store_id=shop.id, destination_type="lnurlp", destination=lnurlp_server["url"])
    lnurlp_server["honest"] = False
    [batch] = settlement_run()
    assert batch.status == SettlementBatch.Status.FAILED
    assert "metadata" in batch.failure_reason
    assert lnd_external.lookup_invoice(lnurlp_server["invoices"][0].payment_hash).state == InvoiceState.OPEN
    assert merchant_posted(shop) == 2_000 * SAT
