"""Racing workers: the same settlement recorded at once credits the merchant once; a payment racing the expiry task is not lost."""
from datetime import timedelta

import pytest

from flashpay.events.models import Event
from flashpay.ledger.models import Account, Transaction
from invoices.models import Invoice, InvoicePayment
from invoices.services.invoices import invoices_expire
from invoices.services.payments import (
    invoice_payment_lightning_record,
    invoice_payment_onchain_record,
)
from tests.concurrency import run_together
from tests.invoices.factories import make_invoice

pytestmark = pytest.mark.django_db(transaction=True)


def _race(*calls):
    errors = run_together(*calls, timeout=30).errors
    assert not errors, errors


def test_one_settlement_delivered_to_eight_workers_at_once_credits_once(shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="0.0002", currency="BTC")
    payment_hash = invoice.prompts.get(payment_method_id="BTC-LN").payment_hash

    _race(*[lambda: invoice_payment_lightning_record(payment_hash=payment_hash, amount_received_msat=20_000_000)] * 8)

    assert InvoicePayment.objects.count() == 1
    assert Transaction.objects.filter(idempotency_key=payment_hash).count() == 1
    assert Account.objects.get(kind="merchant", reference=store.pk).posted_msat == 20_000_000
    assert Event.objects.filter(aggregate_id=invoice.pk, type="InvoiceSettled").count() == 1
    assert Invoice.objects.get().status == "Settled"


def test_payment_racing_the_expiry_task_is_kept(shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10")
    Invoice.objects.filter(pk=invoice.pk).update(expires_at=invoice.created_at - timedelta(seconds=1))
    address = invoice.prompts.get(payment_method_id="BTC-CHAIN").address

    _race(
        invoices_expire,
        lambda: invoice_payment_onchain_record(
            address=address, txid="aa" * 32, vout=0, amount_msat=20_000_000, chain_status="seen", block_height=None
        ),
    )

    invoice.refresh_from_db()
    # whichever ran first, the invoice expired and the payment counts as late
    assert (invoice.status, invoice.additional_status) == ("Expired", "PaidLate")
    assert InvoicePayment.objects.get().after_expiration is True
    assert Event.objects.filter(aggregate_id=invoice.pk, type="InvoiceExpired").count() == 1
