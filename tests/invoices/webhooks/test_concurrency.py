"""Several workers sweeping at once send each delivery exactly once (SKIP LOCKED claims)."""
from __future__ import annotations

import pytest

from invoices.webhooks.models import WebhookDelivery
from invoices.webhooks.services import webhook_create, webhook_deliveries_send_due
from tests.concurrency import run_together
from tests.factories import StoreFactory
from tests.invoices.webhooks.conftest import deliver, invoice_event


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_send_each_delivery_once(receiver):
    store = StoreFactory()
    webhook_create(store=store, url=receiver.url())
    for n in range(8):
        deliver(invoice_event(store_id=store.pk, invoice_id=f"C{n}"))
    assert WebhookDelivery.objects.count() == 8

    assert run_together(*[webhook_deliveries_send_due] * 4, timeout=60).errors == []
    ids = [r.json["deliveryId"] for r in receiver.received()]
    assert len(ids) == 8 and len(set(ids)) == 8
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"done"}
    assert set(WebhookDelivery.objects.values_list("attempts", flat=True)) == {1}
