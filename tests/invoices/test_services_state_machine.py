"""The invoice state machine driven by the watcher's on-chain and Lightning records, the expiry task and manual marking."""
from datetime import timedelta
from decimal import Decimal

import pytest

from flashpay.events.models import Event
from flashpay.events.tasks import dispatch_event
from invoices.models import Invoice, InvoiceEvent, InvoicePayment
from invoices.onchain.services import onchain_sync_once
from invoices.selectors import invoice_data
from invoices.services.invoices import invoice_mark_status, invoices_expire
from invoices.services.payments import (
    invoice_payment_lightning_record,
    invoice_payment_onchain_record,
)
from invoices.services.state import InvalidTransition
from tests.invoices.conftest import deliver, invoice_events
from tests.invoices.factories import make_invoice

pytestmark = pytest.mark.django_db

SAT = 1000


def _pay_chain(invoice, sats, *, txid=None, status="seen", height=None):
    """What the on-chain watcher's event reports for an output to the invoice's address."""
    address = invoice.prompts.get(payment_method_id="BTC-CHAIN").address
    txid = txid or f"{invoice.payments.count() + 1:064x}"
    return invoice_payment_onchain_record(
        address=address, txid=txid, vout=0, amount_msat=sats * SAT, chain_status=status, block_height=height
    )


def _state(invoice):
    invoice.refresh_from_db()
    return invoice.status, invoice.additional_status


def _payload(invoice, event_type):
    return Event.objects.filter(aggregate_id=invoice.pk, type=event_type).get().payload


def _age(invoice, *, minutes):
    """Move the invoice's clock: created ``minutes`` ago (expiry and monitoring move with it)."""
    delta = timedelta(minutes=minutes)
    Invoice.objects.filter(pk=invoice.pk).update(
        expires_at=invoice.expires_at - delta, monitoring_expires_at=invoice.monitoring_expires_at - delta
    )


def test_expiry_without_payment(shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10", checkout={"expirationMinutes": 15})
    assert invoices_expire() == 0  # not yet
    _age(invoice, minutes=16)

    assert invoices_expire() == 1
    assert _state(invoice) == ("Expired", "None")
    assert _payload(invoice, "InvoiceExpired")["partiallyPaid"] is False
    assert invoices_expire() == 0  # the task may run twice


def test_partial_payment_then_expiry_then_monitoring_end_is_invalid(shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10")  # 20,000 sats
    _pay_chain(invoice, 5_000, status="confirmed", height=1)
    assert _state(invoice) == ("New", "PaidPartial")

    _age(invoice, minutes=16)
    invoices_expire()
    assert _state(invoice) == ("Expired", "PaidPartial")
    assert _payload(invoice, "InvoiceExpired")["partiallyPaid"] is True

    _age(invoice, minutes=24 * 60)
    invoices_expire()
    assert _state(invoice) == ("Invalid", "PaidPartial")
    assert _payload(invoice, "InvoiceInvalid")["manuallyMarked"] is False


def test_payment_after_expiry_stays_expired_and_is_paid_late(shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10")
    _age(invoice, minutes=16)  # expired, the task has not run yet

    payment = _pay_chain(invoice, 20_000)

    assert payment.after_expiration is True
    assert _state(invoice) == ("Expired", "PaidLate")
    assert invoice_events(invoice.pk) == ["InvoiceCreated", "InvoiceExpired", "InvoiceReceivedPayment"]
    received = _payload(invoice, "InvoiceReceivedPayment")
    assert received["afterExpiration"] is True
    assert received["paymentMethodId"] == "BTC-CHAIN"
    assert received["payment"]["value"] == "0.00020000"


def test_processing_not_confirmed_before_monitoring_ends_is_invalid(shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10", checkout={"speedPolicy": "LowSpeed"})
    _pay_chain(invoice, 20_000)
    assert _state(invoice) == ("Processing", "None")

    _age(invoice, minutes=16 + 24 * 60)
    invoices_expire()

    assert _state(invoice) == ("Invalid", "None")


def test_overpayment_is_paid_over(shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10", checkout={"speedPolicy": "HighSpeed"})
    _pay_chain(invoice, 25_000)  # HighSpeed: zero confirmations settle

    assert _state(invoice) == ("Settled", "PaidOver")
    assert _payload(invoice, "InvoiceProcessing")["overPaid"] is True
    settled = _payload(invoice, "InvoiceSettled")
    assert (settled["overPaid"], settled["manuallyMarked"]) == (True, False)


def test_payment_within_tolerance_counts_as_paid(shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10", checkout={"paymentTolerance": 5})
    _pay_chain(invoice, 19_000)  # 95 %
    assert _state(invoice) == ("Processing", "None")


def test_payment_just_outside_tolerance_is_partial(shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10", checkout={"paymentTolerance": 5})
    _pay_chain(invoice, 18_999)
    assert _state(invoice) == ("New", "PaidPartial")


def test_confirmations_follow_the_speed_policy(shop, bitcoind_client, bitcoind_miner):
    store, _ = shop
    onchain_sync_once(client=bitcoind_client)
    invoice = make_invoice(store=store, amount="10", checkout={"speedPolicy": "LowMediumSpeed"})
    address = invoice.prompts.get(payment_method_id="BTC-CHAIN").address
    bitcoind_miner.send_to_address(address, Decimal("0.0002"))
    mine = lambda: bitcoind_miner.generate_to_address(1, bitcoind_miner.get_new_address())  # noqa: E731

    mine()
    onchain_sync_once(client=bitcoind_client)
    deliver()
    assert _state(invoice) == ("Processing", "None")  # 1 of 2 confirmations

    mine()
    onchain_sync_once(client=bitcoind_client)
    deliver()
    assert _state(invoice) == ("Settled", "None")


def test_reorged_out_payment_returns_the_invoice_to_new(shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10", checkout={"speedPolicy": "LowSpeed"})
    _pay_chain(invoice, 20_000, txid="ab" * 32)
    assert _state(invoice) == ("Processing", "None")

    _pay_chain(invoice, 20_000, txid="ab" * 32, status="removed")

    assert _state(invoice) == ("New", "None")
    assert InvoicePayment.objects.get().status == "Invalid"


def test_a_settled_payment_undone_by_a_reorg_is_announced_and_settles_again(shop):
    # given: an invoice settled by one confirmed on-chain payment (MediumSpeed: one block)
    store, _ = shop
    invoice = make_invoice(store=store, amount="10")
    txid = "ab" * 32
    _pay_chain(invoice, 20_000, txid=txid, status="confirmed", height=1)
    assert _state(invoice) == ("Settled", "None")

    # when: a reorg puts it back in the mempool
    _pay_chain(invoice, 20_000, txid=txid, status="seen")
    # then: the payment lost its standing and says so; the invoice waits, still paid
    undone = _payload(invoice, "InvoicePaymentUndone")
    assert (undone["reason"], undone["previousStatus"], undone["payment"]["status"]) == ("unconfirmed", "Settled", "Processing")
    assert (undone["paymentMethodId"], undone["payment"]["id"]) == ("BTC-CHAIN", f"{txid}-0")
    assert _state(invoice) == ("Settled", "None")

    # when: it confirms again on the new branch: settled and announced again
    _pay_chain(invoice, 20_000, txid=txid, status="confirmed", height=2)
    assert invoice_events(invoice.pk).count("InvoicePaymentSettled") == 2

    # when: a second reorg and a double spend take it out of the chain
    _pay_chain(invoice, 20_000, txid=txid, status="seen")
    _pay_chain(invoice, 20_000, txid=txid, status="removed")
    # then: undone twice more (unconfirmed, then removed), and the invoice is no longer paid
    reasons = [e.payload["reason"] for e in Event.objects.filter(aggregate_id=invoice.pk, type="InvoicePaymentUndone").order_by("pk")]
    assert reasons == ["unconfirmed", "unconfirmed", "removed"]
    assert _state(invoice) == ("Invalid", "None")
    assert invoice_events(invoice.pk)[-1] == "InvoiceInvalid"

    # when: the removed transaction comes back after all and confirms: Settled again
    _pay_chain(invoice, 20_000, txid=txid, status="confirmed", height=3)
    assert _state(invoice) == ("Settled", "None")
    assert InvoicePayment.objects.get().undone_count == 3


def test_an_invoice_marked_invalid_by_hand_does_not_settle_again(shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10", checkout={"speedPolicy": "LowSpeed"})
    _pay_chain(invoice, 20_000, txid="cd" * 32)
    invoice_mark_status(invoice=invoice, status="Invalid", actor="user:1")
    _pay_chain(invoice, 20_000, txid="cd" * 32, status="confirmed", height=1)
    assert _state(invoice)[0] == "Invalid"


def test_redelivered_payment_is_recorded_once(shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10")
    _pay_chain(invoice, 5_000, txid="cd" * 32)
    _pay_chain(invoice, 5_000, txid="cd" * 32)
    assert InvoicePayment.objects.count() == 1
    assert invoice_events(invoice.pk).count("InvoiceReceivedPayment") == 1


def test_lightning_for_an_unknown_payment_hash_is_ignored(shop):
    store, _ = shop
    make_invoice(store=store, amount="10")
    assert invoice_payment_lightning_record(payment_hash="00" * 32, amount_received_msat=1000) is None
    assert InvoicePayment.objects.count() == 0


def test_top_up_takes_any_amount(shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount=None, checkout={"speedPolicy": "HighSpeed"})
    assert (invoice.type, invoice.amount_msat) == ("TopUp", None)
    _pay_chain(invoice, 1_234)
    assert _state(invoice) == ("Settled", "None")
    data = invoice_data(invoice)
    assert (data["type"], data["amount"], data["paidAmount"]) == ("TopUp", "0.62", "0.62")  # 1,234 sats at 50,000 USD


def test_mark_settled_then_invalid_by_hand(shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10")

    invoice_mark_status(invoice=invoice, status="Settled", actor="user:1")
    assert _state(invoice) == ("Settled", "Marked")
    assert _payload(invoice, "InvoiceSettled")["manuallyMarked"] is True
    audit = InvoiceEvent.objects.filter(invoice=invoice).last()
    assert (audit.actor, audit.from_status, audit.to_status, audit.reason) == ("user:1", "New", "Settled", "marked Settled by hand")

    # a later payment does not undo the mark
    _pay_chain(invoice, 20_000)
    assert _state(invoice) == ("Settled", "Marked")

    invoice_mark_status(invoice=invoice, status="Invalid", actor="user:1")
    assert _state(invoice) == ("Invalid", "Marked")
    assert _payload(invoice, "InvoiceInvalid")["manuallyMarked"] is True


def test_marking_a_settled_invoice_settled_again_is_refused(shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10", checkout={"speedPolicy": "HighSpeed"})
    _pay_chain(invoice, 20_000)
    audit_rows = InvoiceEvent.objects.count()
    with pytest.raises(InvalidTransition):
        invoice_mark_status(invoice=invoice, status="Settled", actor="user:1")
    assert InvoiceEvent.objects.count() == audit_rows


def test_webhook_payload_shape(shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10", metadata={"orderId": "A-1"})
    created = _payload(invoice, "InvoiceCreated")
    assert set(created) == {"type", "timestamp", "storeId", "invoiceId", "metadata"}
    assert (created["type"], created["storeId"], created["invoiceId"], created["metadata"]) == (
        "InvoiceCreated", store.pk, invoice.pk, {"orderId": "A-1"},
    )
    event = Event.objects.get(aggregate_id=invoice.pk, type="InvoiceCreated")
    assert (event.aggregate_type, event.idempotency_key) == ("invoice", f"InvoiceCreated:{invoice.pk}:created")


def test_an_old_event_redelivered_late_does_not_unconfirm_a_payment(shop, bitcoind_client, bitcoind_miner):
    store, _ = shop
    onchain_sync_once(client=bitcoind_client)
    invoice = make_invoice(store=store, amount="10")
    bitcoind_miner.send_to_address(invoice.prompts.get(payment_method_id="BTC-CHAIN").address, Decimal("0.0002"))
    onchain_sync_once(client=bitcoind_client)
    received = Event.objects.get(type="onchain.payment.received")
    bitcoind_miner.generate_to_address(1, bitcoind_miner.get_new_address())
    onchain_sync_once(client=bitcoind_client)
    deliver()
    assert _state(invoice) == ("Settled", "None")

    # the "received" event (status seen) is delivered again, after the confirmation
    received.deliveries.update(state="pending", attempts=0)
    dispatch_event(received.pk)

    assert InvoicePayment.objects.get().status == "Settled"
    assert _state(invoice) == ("Settled", "None")
