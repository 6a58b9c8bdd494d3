"""The periodic reconciliation task and the catch-up of settlements missed while subscribing."""
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from flashpay.events.models import Event
from flashpay.schedules import registered_schedules
from lightning.models import LightningInvoice
from lightning.services import (
    INVOICE_SETTLED_EVENT,
    lightning_invoice_create,
    lightning_sync_settled,
)
from lightning.tasks import RECONCILE_SCHEDULE, lightning_reconcile_task

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def configured(settings, lnd_network):
    settings.LIGHTNING_CONNECTION_STRING = lnd_network.connection_string("flashpay")
    return lnd_network


def test_reconcile_task_records_settlements_the_stream_missed(configured, lnd_backend, lnd_external):
    invoice = lightning_invoice_create(backend=lnd_backend, amount_msat=4_000)
    lnd_external.pay(invoice.bolt11, fee_limit_msat=0, timeout=5)

    first = lightning_reconcile_task()
    second = lightning_reconcile_task()

    assert first == {"recorded": 1, "error": None}
    assert second == {"recorded": 0, "error": None}
    assert LightningInvoice.objects.get(pk=invoice.pk).status == "settled"
    assert Event.objects.filter(type=INVOICE_SETTLED_EVENT).count() == 1


def test_reconcile_task_leaves_long_expired_invoices_alone(configured, lnd_backend, lnd_external):
    invoice = lightning_invoice_create(backend=lnd_backend, amount_msat=4_000)
    lnd_external.pay(invoice.bolt11, fee_limit_msat=0, timeout=5)
    LightningInvoice.objects.filter(pk=invoice.pk).update(expires_at=timezone.now() - timedelta(hours=2))

    assert lightning_reconcile_task() == {"recorded": 0, "error": None}
    assert LightningInvoice.objects.get(pk=invoice.pk).status == "open"


def test_reconcile_task_with_the_node_down_reports_and_writes_nothing(settings, tmp_path):
    settings.LIGHTNING_CONNECTION_STRING = "type=clightning;server=unix://" + str(tmp_path / "no-such-rpc")

    assert lightning_reconcile_task() == {"recorded": 0, "error": "lightning-node-unreachable"}
    assert Event.objects.count() == 0


def test_reconcile_is_a_registered_schedule():
    assert RECONCILE_SCHEDULE in [task.name for task in registered_schedules()]


class SlowSubscriber:
    """The real backend, but its subscription reaches the node late: `before_subscribe` runs
    first, as a payment landing in that gap would."""

    def __init__(self, backend, network, before_subscribe, after_subscribe):
        self.backend = backend
        self.network = network
        self.before_subscribe = before_subscribe
        self.after_subscribe = after_subscribe

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def stream_settled(self, *, from_settle_index, stop_event=None):
        def late():
            self.before_subscribe()
            stream = self.backend.stream_settled(from_settle_index=from_settle_index, stop_event=stop_event)
            def when_live():
                if self.network.wait_subscribers(count=1):
                    self.after_subscribe()

            threading.Thread(target=when_live).start()
            yield from stream

        return late()


def test_first_sync_catches_a_settlement_that_slipped_in_while_subscribing(lnd_network, lnd_backend, lnd_external):
    slipped = lightning_invoice_create(backend=lnd_backend, amount_msat=1_111, memo="in the gap")
    live = lightning_invoice_create(backend=lnd_backend, amount_msat=2_222, memo="live")
    backend = SlowSubscriber(
        lnd_backend,
        lnd_network,
        before_subscribe=lambda: lnd_external.pay(slipped.bolt11, fee_limit_msat=0, timeout=5),
        after_subscribe=lambda: lnd_external.pay(live.bolt11, fee_limit_msat=0, timeout=5),
    )
    stop = threading.Event()
    result = {}

    def run():
        try:
            result["count"] = lightning_sync_settled(backend=backend, stop_event=stop)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    while Event.objects.filter(type=INVOICE_SETTLED_EVENT).count() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(10)

    assert result == {"count": 2}
    assert set(LightningInvoice.objects.values_list("memo", "status")) == {("in the gap", "settled"), ("live", "settled")}


def test_reconcile_marks_invoices_the_node_canceled(lnd_backend):
    from lightning.services import lightning_invoices_reconcile

    invoice = lightning_invoice_create(backend=lnd_backend, amount_msat=1_000, expiry=1)
    time.sleep(1.1)

    recorded = lightning_invoices_reconcile(backend=lnd_backend, node_pubkey=lnd_backend.node_info().pubkey)

    assert recorded == []
    assert LightningInvoice.objects.get(pk=invoice.pk).status == "canceled"
    assert Event.objects.count() == 0
