"""Operator admin for card payments, top-ups and settlement batches (CSV, mark paid)."""

import pytest
from django.test import Client
from django.urls import reverse

from cards.models import SettlementBatch
from cards.services.settlement import settlement_run, settlement_schedule_set
from flashpay.events.services import event_deliveries_run
from flashpay.ledger.selectors import account_balance, account_get
from tests.factories import StoreFactory
from tests.fixtures.nodes import node_clients_forget
from tests.invoices.factories import make_invoice, store_setup_payment_methods

from .factories import OperatorFactory, fund_card, make_programmed_card
from .test_settlement import pay_invoice_with_card

pytestmark = pytest.mark.django_db(transaction=True)

SAT = 1000
ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(OperatorFactory())
    return client


@pytest.fixture
def onchain_batch(flashpay_node):
    """A card payment of a store's invoice (the invoices app credits the store) batched for
    on-chain payout."""
    node_clients_forget()
    store = StoreFactory(name="Negril Grill")
    store_setup_payment_methods(store=store)
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    invoice = make_invoice(store=store, amount="0.00004", currency="BTC")
    assert pay_invoice_with_card(card, 1, invoice).json() == {"status": "OK"}
    event_deliveries_run()
    settlement_schedule_set(store_id=store.id, destination_type="onchain", destination=ADDRESS, fee_ppm=5_000)
    [batch] = settlement_run()
    yield batch
    node_clients_forget()


def test_payment_topup_schedule_and_batch_pages_render(admin_client, onchain_batch):
    for name in ("cardpayment", "cardtopup", "merchantsettlementschedule", "settlementbatch", "taplog"):
        response = admin_client.get(reverse(f"admin:cards_{name}_changelist"))
        assert response.status_code == 200, name
    search = admin_client.get(reverse("admin:cards_cardpayment_changelist"), {"q": "Negril"})
    assert b"Negril Grill" in search.content


def test_batch_csv_and_mark_paid_actions(admin_client, onchain_batch):
    url = reverse("admin:cards_settlementbatch_changelist")
    csv_response = admin_client.post(url, {"action": "download_csv", "_selected_action": [onchain_batch.pk]})
    assert csv_response["Content-Type"] == "text/csv"
    lines = csv_response.content.decode().strip().splitlines()
    assert len(lines) == 3
    assert lines[1].split(",")[6:] == ["4000000", "20000", "3980000"]
    assert onchain_batch.status == SettlementBatch.Status.AWAITING_MANUAL
    admin_client.post(url, {"action": "mark_paid", "_selected_action": [onchain_batch.pk]})
    onchain_batch.refresh_from_db()
    assert onchain_batch.status == SettlementBatch.Status.PAID
    merchant = account_get(kind="merchant", reference=onchain_batch.store_id)
    assert account_balance(account=merchant).posted.value == 0
