"""Recording Lightning settlements from the node's stream: idempotent, resumable, with outbox events."""
import threading
import time

import pytest
from django.db import connection

from flashpay.errors import FieldError
from flashpay.events.models import Event
from lightning import services
from lightning.backends import InvoiceState
from lightning.models import LightningInvoice, LightningSettleCursor
from lightning.services import (
    INVOICE_SETTLED_EVENT,
    lightning_invoice_create,
    lightning_invoice_record_settled,
    lightning_sync_settled,
)
from tests.concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True)


class SyncRun:
    """lightning_sync_settled in a thread, as the watcher runs it."""

    def __init__(self, backend, network, *, wait: bool = True):
        self.network = network
        self.stop_event = threading.Event()
        self.result: dict = {}
        self.thread = threading.Thread(target=self._run, args=(backend,))
        self.thread.start()
        if wait:
            assert network.wait_subscribers(count=1)

    def _run(self, backend):
        try:
            self.result["count"] = lightning_sync_settled(backend=backend, stop_event=self.stop_event)
        except BaseException as exc:  # a crash of the watcher process
            self.result["error"] = type(exc)
        finally:
            connection.close()

    def stop(self):
        self.stop_event.set()
        self.thread.join(10)
        assert not self.thread.is_alive()
        assert self.network.wait_subscribers(count=0)
        return self.result


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def settled_events():
    return Event.objects.filter(type=INVOICE_SETTLED_EVENT)


def test_settlement_is_recorded_with_one_event_and_the_cursor_moves(lnd_network, lnd_backend, lnd_external):
    invoice = lightning_invoice_create(backend=lnd_backend, amount_msat=12_345, memo="latte")
    sync = SyncRun(lnd_backend, lnd_network)

    lnd_external.pay(invoice.bolt11, fee_limit_msat=0, timeout=5)
    # The catch-up lookup may record the settlement before the stream brings it (a loaded
    # machine sets the subscription up slowly); the cursor moves when the stream does.
    recorded = wait_for(
        lambda: LightningInvoice.objects.get(pk=invoice.pk).status == "settled"
        and LightningSettleCursor.objects.filter(settle_index=1).exists()
    )
    result = sync.stop()

    assert recorded
    assert result == {"count": 1}
    row = LightningInvoice.objects.get(pk=invoice.pk)
    assert row.settle_index == 1
    assert row.amount_received_msat == 12_345
    assert len(row.preimage) == 64
    event = settled_events().get()
    assert event.aggregate_id == invoice.payment_hash
    assert event.payload["amount_received_msat"] == 12_345
    cursor = LightningSettleCursor.objects.get()
    assert cursor.node_pubkey == lnd_network.nodes["flashpay"].pubkey
    assert cursor.settle_index == 1


def test_sync_killed_and_resumed_loses_and_duplicates_nothing(monkeypatch, lnd_network, lnd_backend, lnd_external):
    invoices = [lightning_invoice_create(backend=lnd_backend, amount_msat=1000 * (i + 1), memo=f"#{i}") for i in range(6)]
    hashes = [i.payment_hash for i in invoices]

    # given: a sync that recorded two settlements, then was stopped
    sync = SyncRun(lnd_backend, lnd_network)
    for invoice in invoices[:2]:
        lnd_external.pay(invoice.bolt11, fee_limit_msat=0, timeout=5)
    assert wait_for(lambda: settled_events().count() == 2)
    sync.stop()

    # and: two more settled while it was down; the recorder dies inside the transaction of the
    # second of them (after writing the row and before commit)
    for invoice in invoices[2:4]:
        lnd_external.pay(invoice.bolt11, fee_limit_msat=0, timeout=5)
    real_emit = services.event_emit

    def crash_on_fourth(**kwargs):
        if kwargs["aggregate_id"] == hashes[3]:
            raise KeyboardInterrupt("watcher killed")
        return real_emit(**kwargs)

    monkeypatch.setattr(services, "event_emit", crash_on_fourth)
    crashed = SyncRun(lnd_backend, lnd_network, wait=False)
    crashed.thread.join(5)
    assert crashed.result.get("error") is KeyboardInterrupt
    assert lnd_network.wait_subscribers(count=0)  # the dead run left no subscription behind
    assert LightningInvoice.objects.get(payment_hash=hashes[3]).status == "open"
    assert LightningSettleCursor.objects.get().settle_index == 3
    monkeypatch.setattr(services, "event_emit", real_emit)

    # when: it resumes, and more invoices settle live
    resumed = SyncRun(lnd_backend, lnd_network)
    for invoice in invoices[4:]:
        lnd_external.pay(invoice.bolt11, fee_limit_msat=0, timeout=5)
    assert wait_for(lambda: settled_events().count() == 6)
    resumed.stop()

    # then: every settlement once, in settle order, and the cursor at the last one
    assert sorted(settled_events().values_list("aggregate_id", flat=True)) == sorted(hashes)
    rows = LightningInvoice.objects.order_by("settle_index")
    assert [r.payment_hash for r in rows] == hashes
    assert [r.settle_index for r in rows] == [1, 2, 3, 4, 5, 6]
    assert LightningSettleCursor.objects.get().settle_index == 6

    # and: a replay from an older cursor (a duplicate delivery) records nothing again
    LightningSettleCursor.objects.update(settle_index=2)
    replay = SyncRun(lnd_backend, lnd_network)
    time.sleep(0.5)
    assert replay.stop() == {"count": 0}
    assert settled_events().count() == 6
    assert LightningSettleCursor.objects.get().settle_index == 6


def test_first_sync_catches_up_on_invoices_settled_before_it_ran(lnd_network, lnd_backend, lnd_external):
    invoice = lightning_invoice_create(backend=lnd_backend, amount_msat=777_000, memo="early")
    lnd_external.pay(invoice.bolt11, fee_limit_msat=0, timeout=5)

    sync = SyncRun(lnd_backend, lnd_network)
    result = sync.stop()

    assert result == {"count": 1}
    assert LightningInvoice.objects.get(pk=invoice.pk).status == "settled"
    assert settled_events().count() == 1


def test_recording_the_same_settlement_twice_is_a_no_op(lnd_backend, lnd_external):
    invoice = lightning_invoice_create(backend=lnd_backend, amount_msat=5_000)
    lnd_external.pay(invoice.bolt11, fee_limit_msat=0, timeout=5)
    settled = lnd_backend.lookup_invoice(invoice.payment_hash)
    node = lnd_backend.node_info().pubkey

    _row, first = lightning_invoice_record_settled(node_pubkey=node, invoice=settled)
    _row, second = lightning_invoice_record_settled(node_pubkey=node, invoice=settled)

    assert (first, second) == (True, False)
    assert settled_events().count() == 1


def test_settlement_of_an_invoice_minted_outside_flashpay_is_still_recorded(lnd_backend, lnd_external):
    on_node_only = lnd_backend.create_invoice(amount_msat=9_000, memo="made with lncli")
    lnd_external.pay(on_node_only.bolt11, fee_limit_msat=0, timeout=5)
    settled = lnd_backend.lookup_invoice(on_node_only.payment_hash)
    assert settled.state == InvoiceState.SETTLED

    row, recorded = lightning_invoice_record_settled(node_pubkey=lnd_backend.node_info().pubkey, invoice=settled)

    assert recorded
    assert row.status == "settled" and row.amount_received_msat == 9_000


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"amount_msat": 0}, "amount_msat"),
        ({"amount_msat": -5}, "amount_msat"),
        ({"amount_msat": 1000, "expiry": 0}, "expiry"),
        ({"amount_msat": 1000, "memo": "x" * 640}, "memo"),
    ],
)
def test_bad_invoice_input_is_refused_before_the_node_is_called(lnd_network, lnd_backend, kwargs, path):
    with pytest.raises(FieldError) as error:
        lightning_invoice_create(backend=lnd_backend, **kwargs)

    assert error.value.path == path
    assert LightningInvoice.objects.count() == 0
    assert lnd_network.nodes["flashpay"].invoices == {}


def test_any_amount_invoice(lnd_backend, lnd_external):
    invoice = lightning_invoice_create(backend=lnd_backend, amount_msat=None, memo="top up")

    paid = lnd_external.pay(invoice.bolt11, fee_limit_msat=0, timeout=5, amount_msat=42_000)

    assert invoice.amount_msat is None
    assert paid.status == "success"
    assert lnd_backend.lookup_invoice(invoice.payment_hash).amount_received_msat == 42_000


def test_follow_reconnects_after_the_node_restarts_and_misses_nothing(tmp_path):
    import socket

    from devnode.lnd import LndNetwork, node_backend

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    datadir = tmp_path / "lnd"
    network = LndNetwork(datadir=datadir, flashpay_port=port).start()
    backend = node_backend(datadir, "flashpay", timeout=2)
    first = lightning_invoice_create(backend=backend, amount_msat=1_000, memo="before")
    second = lightning_invoice_create(backend=backend, amount_msat=2_000, memo="while down")
    third = lightning_invoice_create(backend=backend, amount_msat=3_000, memo="after")
    stop = threading.Event()
    result = {}

    def follow():
        try:
            result["count"] = services.lightning_follow_settled(backend=backend, stop_event=stop, retry_seconds=0.2)
        finally:
            connection.close()

    thread = threading.Thread(target=follow)
    thread.start()
    try:
        assert network.wait_subscribers(count=1)
        node_backend(datadir, "external").pay(first.bolt11, fee_limit_msat=0, timeout=5)
        assert wait_for(lambda: settled_events().count() == 1)

        # the node goes away; a payment lands while the watcher cannot see it
        network.stop()
        time.sleep(0.5)
        network = LndNetwork(datadir=datadir, flashpay_port=port).start()
        node_backend(datadir, "external").pay(second.bolt11, fee_limit_msat=0, timeout=5)
        node_backend(datadir, "external").pay(third.bolt11, fee_limit_msat=0, timeout=5)

        assert wait_for(lambda: settled_events().count() == 3, timeout=15)
    finally:
        stop.set()
        thread.join(10)
        network.stop()

    assert result == {"count": 3}
    assert list(LightningInvoice.objects.order_by("settle_index").values_list("memo", "settle_index")) == [
        ("before", 1), ("while down", 2), ("after", 3),
    ]


def test_concurrent_recorders_record_a_settlement_once(lnd_backend, lnd_external):
    invoice = lightning_invoice_create(backend=lnd_backend, amount_msat=64_000)
    lnd_external.pay(invoice.bolt11, fee_limit_msat=0, timeout=5)
    settled = lnd_backend.lookup_invoice(invoice.payment_hash)
    node = lnd_backend.node_info().pubkey

    def record():
        return lightning_invoice_record_settled(node_pubkey=node, invoice=settled)[1]

    outcomes = run_together(*[record] * 4, timeout=10).values()

    assert sorted(outcomes) == [False, False, False, True]
    assert settled_events().count() == 1
    assert LightningSettleCursor.objects.get().settle_index == 1


def test_invoice_paid_by_card_and_then_over_lightning_is_flagged_not_credited_twice(caplog, lnd_backend, lnd_external):
    from django.db import transaction

    from lightning.services import lightning_invoice_settle_internally

    invoice = lightning_invoice_create(backend=lnd_backend, amount_msat=8_000)
    with transaction.atomic():
        lightning_invoice_settle_internally(payment_hash=invoice.payment_hash, amount_msat=8_000)
    lnd_external.pay(invoice.bolt11, fee_limit_msat=0, timeout=5)
    settled = lnd_backend.lookup_invoice(invoice.payment_hash)

    _row, recorded = lightning_invoice_record_settled(node_pubkey=lnd_backend.node_info().pubkey, invoice=settled)

    assert not recorded
    assert settled_events().count() == 1
    assert "paid again over Lightning" in caplog.text
    assert LightningSettleCursor.objects.get().settle_index == settled.settle_index
