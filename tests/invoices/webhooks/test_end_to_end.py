"""From event_emit to the receiver through the real path: on_commit, django-q2 tasks, the outbox handler."""
from __future__ import annotations

import pytest
from django.db import transaction
from django_q.conf import Conf

from invoices.webhooks.models import WebhookDelivery
from invoices.webhooks.services import webhook_create, webhook_deliveries_send_due
from tests.factories import StoreFactory
from tests.invoices.webhooks.conftest import invoice_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def q_sync(monkeypatch):
    # django-q2 runs queued tasks in-process (what a worker would do), so the chain is real.
    monkeypatch.setattr(Conf, "SYNC", True)


def test_emitted_event_reaches_the_receiver_after_commit(receiver, q_sync, django_capture_on_commit_callbacks):
    store = StoreFactory()
    webhook, receiver.secret = webhook_create(store=store, url=receiver.url())
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            invoice_event(store_id=store.pk, type="InvoiceCreated", invoice_id="E2E1")
            assert receiver.received() == []  # nothing leaves before the commit
    [request] = receiver.received()
    assert request.signature_valid
    assert request.json["invoiceId"] == "E2E1" and request.json["webhookId"] == webhook.pk
    assert WebhookDelivery.objects.get().state == "done"


def test_rolled_back_event_sends_nothing(receiver, q_sync, django_capture_on_commit_callbacks):
    store = StoreFactory()
    webhook_create(store=store, url=receiver.url())
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                invoice_event(store_id=store.pk)
                raise RuntimeError("the invoice change failed")
    assert receiver.received() == []
    assert not WebhookDelivery.objects.exists()


def test_real_invoice_creation_is_delivered_with_greenfield_body(shop, receiver, clock):
    # The invoices app's own outbox event, not a hand-made one: the contract between the two.
    from tests.invoices.conftest import deliver as deliver_all
    from tests.invoices.factories import make_invoice

    store, _headers = shop
    webhook, receiver.secret = webhook_create(store=store, url=receiver.url())
    invoice = make_invoice(store=store, amount="5.00", currency="USD", metadata={"orderId": "R-1"})
    deliver_all()
    webhook_deliveries_send_due()
    [request] = receiver.received()
    assert request.signature_valid
    body = request.json
    assert body["type"] == "InvoiceCreated" and body["invoiceId"] == invoice.pk
    assert body["storeId"] == store.pk and body["metadata"]["orderId"] == "R-1"
    assert body["webhookId"] == webhook.pk and body["isRedelivery"] is False
    assert body["originalDeliveryId"] == body["deliveryId"]
