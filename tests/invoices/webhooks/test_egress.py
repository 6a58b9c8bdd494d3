"""SSRF guard: with WEBHOOKS_BLOCK_PRIVATE_NETWORKS the worker does not connect to internal addresses."""
from __future__ import annotations

import pytest

from invoices.webhooks.egress import address_is_public
from invoices.webhooks.models import WebhookDelivery
from invoices.webhooks.services import webhook_create, webhook_deliveries_send_due
from tests.factories import StoreFactory
from tests.invoices.webhooks.conftest import deliver, invoice_event


@pytest.mark.parametrize(
    "address,public",
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata service
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
    ],
)
def test_address_classification(address, public):
    assert address_is_public(address) is public


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_blocked_private_address_is_not_contacted(settings, receiver, clock, host):
    settings.WEBHOOKS_BLOCK_PRIVATE_NETWORKS = True
    store = StoreFactory()
    webhook_create(store=store, url=receiver.url().replace("127.0.0.1", host))
    deliver(invoice_event(store_id=store.pk))
    webhook_deliveries_send_due()
    assert receiver.received() == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "Failed" and delivery.http_code is None
    assert "private or local address" in delivery.last_error


@pytest.mark.django_db
def test_guard_off_allows_loopback(settings, receiver, clock):
    settings.WEBHOOKS_BLOCK_PRIVATE_NETWORKS = False
    store = StoreFactory()
    webhook_create(store=store, url=receiver.url())
    deliver(invoice_event(store_id=store.pk))
    webhook_deliveries_send_due()
    assert len(receiver.received()) == 1
