"""Concurrent callbacks on one card never spend more than its balance (or its limits)."""
from functools import partial

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from cards import selectors
from cards.models import CardPayment
from flashpay.ledger.services import ledger_reconcile
from lightning.services import lightning_invoice_create
from tests.concurrency import run_together

from .factories import fund_card, make_programmed_card, tap_params

pytestmark = pytest.mark.django_db(transaction=True)

SAT = 1000


def _race(k1s, invoices):
    """All callbacks released at once from their own threads (own DB connections)."""

    def callback(k1, invoice):
        response = APIClient().get(reverse("cards:tap-callback"), {"k1": k1, "pr": invoice})
        return response.status_code, response.json()

    calls = [partial(callback, k1, invoice) for k1, invoice in zip(k1s, invoices, strict=True)]
    return run_together(*calls, timeout=120).values()


def _taps(card, count):
    client = APIClient()
    return [client.get(reverse("cards:tap"), tap_params(card, n)).json()["k1"] for n in range(1, count + 1)]


def test_fifty_concurrent_internal_callbacks_pay_at_most_what_the_balance_covers(flashpay_node, settings):
    # given: a card whose balance covers exactly 10 payments of 1 000 sat, and 50 taps
    settings.CARD_RATE_LIMIT_PER_CARD = 0
    settings.CARD_RATE_LIMIT_PER_IP = 0
    card = make_programmed_card()
    fund_card(card, 10 * 1_000 * SAT)
    k1s = _taps(card, 50)
    invoices = [
        lightning_invoice_create(backend=flashpay_node, amount_msat=1_000 * SAT).bolt11 for _ in range(50)
    ]
    # when
    results = _race(k1s, invoices)
    # then
    ok = [r for r in results if r == (200, {"status": "OK"})]
    refused = [r for r in results if r[0] == 400]
    assert len(ok) == 10
    assert len(refused) == 40
    assert all(r[1]["reason"] == "this card's balance is too low for this amount" for r in refused)
    assert CardPayment.objects.filter(status="succeeded").count() == 10
    balance = selectors.card_balance(card=card)
    assert balance.posted.value == 0 and balance.pending_debit.value == 0
    report = ledger_reconcile()
    assert report.mismatches == [] and report.posted_total_msat == 0


def test_concurrent_callbacks_respect_the_daily_cap(flashpay_node, settings):
    # given: plenty of money but a daily cap of 5 payments
    settings.CARD_RATE_LIMIT_PER_CARD = 0
    settings.CARD_RATE_LIMIT_PER_IP = 0
    card = make_programmed_card(per_transaction_limit_msat=1_000 * SAT, daily_limit_msat=5_000 * SAT)
    fund_card(card, 100_000 * SAT)
    k1s = _taps(card, 12)
    invoices = [
        lightning_invoice_create(backend=flashpay_node, amount_msat=1_000 * SAT).bolt11 for _ in range(12)
    ]
    results = _race(k1s, invoices)
    assert sum(1 for r in results if r[0] == 200) == 5
    assert selectors.card_spent_today_msat(card=card) == 5_000 * SAT
    assert selectors.card_balance(card=card).posted.value == 95_000 * SAT


def test_concurrent_external_callbacks_reserve_before_paying(flashpay_node, lnd_external, settings):
    # given: money for 3 external payments of 2 000 sat plus their fee reserves, 8 taps
    settings.CARD_RATE_LIMIT_PER_CARD = 0
    settings.CARD_RATE_LIMIT_PER_IP = 0
    card = make_programmed_card()
    reserve = 2_000 * SAT + selectors.routing_fee_limit_msat(amount_msat=2_000 * SAT)
    fund_card(card, 3 * reserve)
    k1s = _taps(card, 8)
    invoices = [lnd_external.create_invoice(amount_msat=2_000 * SAT).bolt11 for _ in range(8)]
    results = _race(k1s, invoices)
    assert sum(1 for r in results if r[0] == 200) == 3
    balance = selectors.card_balance(card=card)
    assert balance.pending_debit.value == 0
    paid = CardPayment.objects.filter(status="succeeded")
    assert paid.count() == 3
    assert balance.posted.value == 3 * reserve - sum(p.amount_msat + p.fee_msat for p in paid)
    assert balance.posted.value >= 0
