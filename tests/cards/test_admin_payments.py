"""Operator admin for card payments, top-ups and settlement batches (CSV, mark paid)."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from cards.models import SettlementBatch
from cards.services.settlement import settlement_run, settlement_schedule_set
from flashpay.ledger.selectors import account_balance, account_get
from flashpay.ledger.services import account_get_or_create, transaction_post
from lightning.services import lightning_invoice_create
from tests.factories import StoreFactory

from . import merchant_resolver
from .factories import OperatorFactory, fund_card, make_programmed_card, tap_params

pytestmark = pytest.mark.django_db(transaction=True)

SAT = 1000
ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(OperatorFactory())
    return client


@pytest.fixture
def onchain_batch(flashpay_node, settings):
    """A card payment to a store (credited as the invoices app would) batched for on-chain payout."""
    settings.CARD_MERCHANT_RESOLVER = "tests.cards.merchant_resolver.resolve"
    store = StoreFactory(name="Negril Grill")
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    invoice = lightning_invoice_create(backend=flashpay_node, amount_msat=4_000 * SAT)
    merchant_resolver.STORES_BY_PAYMENT_HASH[invoice.payment_hash] = store.id
    k1 = APIClient().get(reverse("cards:tap"), tap_params(card, 1)).json()["k1"]
    assert APIClient().get(reverse("cards:tap-callback"), {"k1": k1, "pr": invoice.bolt11}).json() == {"status": "OK"}
    node = account_get_or_create(kind="node", reference="lightning")
    merchant = account_get_or_create(kind="merchant", reference=store.id)
    transaction_post(entries=[(node, -4_000 * SAT), (merchant, 4_000 * SAT)], idempotency_key=invoice.payment_hash)
    settlement_schedule_set(store_id=store.id, destination_type="onchain", destination=ADDRESS, fee_ppm=5_000)
    [batch] = settlement_run()
    return batch


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
