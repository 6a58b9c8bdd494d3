"""After a card pays a FlashPay invoice inside the ledger, that invoice is canceled on the node (after
commit, retried by the sweep), so the same BOLT11 cannot be paid over Lightning as well."""

import pytest
from django.urls import reverse
from django_q.models import OrmQ
from rest_framework.test import APIClient

from cards import tasks
from cards.models import CardPayment
from cards.services.payments import card_payments_node_invoices_cancel
from flashpay.ledger.selectors import account_balance, account_get
from invoices.selectors import invoice_payment_methods_data
from lightning.backends import InvoiceState, PaymentStatus
from lightning.backends.cln import ClnBackend
from lightning.services import lightning_invoices_reconcile
from tests.factories import StoreFactory
from tests.fixtures.nodes import node_clients_forget
from tests.invoices.conftest import deliver
from tests.invoices.factories import make_invoice, store_setup_payment_methods

from .factories import fund_card, make_programmed_card, tap_params

pytestmark = pytest.mark.django_db(transaction=True)

SAT = 1000


@pytest.fixture
def shop(flashpay_node):
    node_clients_forget()
    store = StoreFactory(name="Kingston Coffee")
    store_setup_payment_methods(store=store)
    yield store
    node_clients_forget()


def _card_pays(shop, counter=1):
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    invoice = make_invoice(store=shop, amount="0.00002", currency="BTC")
    bolt11 = next(m["destination"] for m in invoice_payment_methods_data(invoice=invoice) if m["paymentMethodId"] == "BTC-LN")
    k1 = APIClient().get(reverse("cards:tap"), tap_params(card, counter)).json()["k1"]
    assert APIClient().get(reverse("cards:tap-callback"), {"k1": k1, "pr": bolt11}).json() == {"status": "OK"}
    return card, CardPayment.objects.get(), bolt11


def merchant_posted(store):
    return account_balance(account=account_get(kind="merchant", reference=store.id)).posted.value


def test_internal_payment_cancels_the_invoice_on_the_node_after_commit(shop, flashpay_node, lnd_external):
    card, payment, bolt11 = _card_pays(shop)
    assert payment.kind == "internal" and payment.node_invoice_canceled_at is None
    # the node call was queued once the payment committed, not made inside its transaction
    queued = [(q.func(), q.task["args"]) for q in OrmQ.objects.all()]
    assert queued.count(("cards.tasks.card_payment_node_invoice_cancel_task", (payment.pk,))) == 1
    # when: the worker runs that task
    assert tasks.card_payment_node_invoice_cancel_task(payment.pk) is True
    payment.refresh_from_db()
    assert payment.node_invoice_canceled_at is not None and payment.node_cancel_error == ""
    assert flashpay_node.lookup_invoice(payment.payment_hash).state == InvoiceState.CANCELED
    # then: someone paying the same BOLT11 over Lightning is refused by the node
    assert lnd_external.pay(bolt11, fee_limit_msat=1000, timeout=5).status == PaymentStatus.FAILED
    deliver()
    assert merchant_posted(shop) == 2_000 * SAT
    assert tasks.card_payments_node_invoices_cancel_task() == 0  # nothing left to do


def test_a_failed_cancel_is_recorded_and_retried_by_the_sweep(shop, flashpay_node, tmp_path):
    _card, payment, _bolt11 = _card_pays(shop)
    # given: the node is unreachable when the cancel is tried
    down = ClnBackend(socket_path=str(tmp_path / "no-such-socket"), timeout=1)
    assert card_payments_node_invoices_cancel(backend=down) == 0
    payment.refresh_from_db()
    assert payment.node_invoice_canceled_at is None and "reach" in payment.node_cancel_error
    assert flashpay_node.lookup_invoice(payment.payment_hash).state == InvoiceState.OPEN
    # when: the node is back, the next sweep cancels it
    assert tasks.card_payments_node_invoices_cancel_task() == 1
    payment.refresh_from_db()
    assert payment.node_invoice_canceled_at is not None and payment.node_cancel_error == ""
    assert flashpay_node.lookup_invoice(payment.payment_hash).state == InvoiceState.CANCELED


def test_invoice_paid_on_the_node_before_the_cancel_is_not_credited_twice(shop, flashpay_node, lnd_external, lnd_network):
    card, payment, bolt11 = _card_pays(shop)
    # given: the BOLT11 is paid over Lightning too, before the cancel ran
    assert lnd_external.pay(bolt11, fee_limit_msat=1000, timeout=5).status == PaymentStatus.SUCCESS
    lightning_invoices_reconcile(backend=flashpay_node, node_pubkey=lnd_network.nodes["flashpay"].pubkey)
    deliver()
    # when: the cancel runs
    assert tasks.card_payments_node_invoices_cancel_task() == 1
    # then: it reports the node got there first, stops retrying, and the merchant has it once
    payment.refresh_from_db()
    assert payment.node_invoice_canceled_at is not None and "paid" in payment.node_cancel_error
    assert merchant_posted(shop) == 2_000 * SAT
    assert account_balance(account=account_get(kind="card", reference=card.public_id)).posted.value == 8_000 * SAT
