"""The cards app declares its periodic tasks and its settled-invoice handler, and they run."""

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from cards import tasks
from cards.models import CardPayment, WithdrawRequest
from flashpay.events.registry import handlers_for
from flashpay.schedules import registered_schedules
from lightning.services import INVOICE_SETTLED_EVENT

from .factories import fund_card, make_programmed_card, tap_params

pytestmark = pytest.mark.django_db(transaction=True)


def test_schedules_and_handler_are_declared():
    declared = {task.name: task.func for task in registered_schedules()}
    assert declared["cards.payments_reconcile"] == "cards.tasks.card_payments_reconcile_task"
    assert declared["cards.settlement"] == "cards.tasks.settlement_run_task"
    assert declared["cards.tap_offers_purge"] == "cards.tasks.tap_offers_purge_task"
    for event_type in ("InvoiceReceivedPayment", "InvoicePaymentSettled", "InvoicePaymentUndone"):
        assert "cards.handlers.invoice_payment_topup" in handlers_for(event_type)
    # top-ups are invoices now: a bare settled node invoice credits no card
    assert not [h for h in handlers_for(INVOICE_SETTLED_EVENT) if h.startswith("cards.")]
    for name, func in declared.items():
        if not name.startswith("cards."):
            continue
        assert callable(getattr(tasks, func.rsplit(".", 1)[1]))


def test_reconcile_task_settles_a_payment_the_node_finished_late(flashpay_node, lnd_external, lnd_network, settings):
    settings.CARD_PAYMENT_TIMEOUT = 1
    card = make_programmed_card()
    fund_card(card, 10_000_000)
    invoice = lnd_external.create_invoice(amount_msat=1_000_000)
    lnd_network.inject(payment_hash=invoice.payment_hash, delay=2)
    k1 = APIClient().get(reverse("cards:tap"), tap_params(card, 1)).json()["k1"]
    assert APIClient().get(reverse("cards:tap-callback"), {"k1": k1, "pr": invoice.bolt11}).json() == {"status": "OK"}
    assert CardPayment.objects.get().status == "pending"
    # too recent: the callback might still be talking to the node
    assert tasks.card_payments_reconcile_task() == 0
    time.sleep(2.5)
    CardPayment.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    assert tasks.card_payments_reconcile_task() == 1
    assert CardPayment.objects.get().status == "succeeded"


def test_purge_drops_dead_offers():
    card = make_programmed_card()
    fund_card(card, 10_000_000)
    assert APIClient().get(reverse("cards:tap"), tap_params(card, 1)).status_code == 200
    assert tasks.tap_offers_purge_task() == 0  # not expired long enough yet
    WithdrawRequest.objects.update(expires_at=timezone.now() - timedelta(hours=2))
    assert tasks.tap_offers_purge_task() == 1
    assert not WithdrawRequest.objects.exists()
