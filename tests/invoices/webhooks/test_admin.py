"""Admin: webhook deliveries are a read-only log with a redeliver action; e-mail rules go through the services."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from invoices.emails.models import EmailRule
from invoices.webhooks.models import WebhookDelivery
from invoices.webhooks.services import webhook_create, webhook_deliveries_send_due
from tests.factories import StoreFactory, UserFactory
from tests.invoices.webhooks.conftest import deliver, invoice_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_redeliver_action_sends_again_as_a_redelivery(admin_client, receiver, clock):
    store = StoreFactory()
    webhook, receiver.secret = webhook_create(store=store, url=receiver.url())
    deliver(invoice_event(store_id=store.pk))
    webhook_deliveries_send_due()
    original = WebhookDelivery.objects.get()
    response = admin_client.post(
        "/admin/invoices/webhookdelivery/",
        {"action": "redeliver", "_selected_action": [original.pk]},
    )
    assert response.status_code == 302
    webhook_deliveries_send_due()
    bodies = [r.json for r in receiver.received()]
    assert len(bodies) == 2
    assert bodies[1]["isRedelivery"] is True and bodies[1]["originalDeliveryId"] == original.pk


def test_staff_without_permission_cannot_redeliver(receiver, clock):
    store = StoreFactory()
    webhook_create(store=store, url=receiver.url())
    deliver(invoice_event(store_id=store.pk))
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_webhookdelivery"))
    client = Client()
    client.force_login(staff)
    delivery = WebhookDelivery.objects.get()
    client.post("/admin/invoices/webhookdelivery/", {"action": "redeliver", "_selected_action": [delivery.pk]})
    assert WebhookDelivery.objects.count() == 1


def test_admin_pages_never_show_the_secret(admin_client):
    webhook, secret = webhook_create(store=StoreFactory(), url="https://merchant.example/hook")
    page = admin_client.get(f"/admin/invoices/webhook/{webhook.pk}/change/")
    assert page.status_code == 200
    assert secret not in page.content.decode()


def test_email_rule_admin_add_validates_and_saves(admin_client):
    store = StoreFactory()
    form = {"store": store.pk, "trigger": "InvoiceSettled", "to": "owner@shop.example", "subject": "Paid {Invoice.Id}",
            "body": "Order {Invoice.OrderId}", "enabled": "on"}
    bad = admin_client.post("/admin/invoices/emailrule/add/", {**form, "to": "", "customer_email": ""})
    assert bad.status_code == 200 and not EmailRule.objects.exists()  # no recipient: form shown again
    response = admin_client.post("/admin/invoices/emailrule/add/", form)
    assert response.status_code == 302
    rule = EmailRule.objects.get()
    assert (rule.store_id, rule.to, rule.subject) == (store.pk, "owner@shop.example", "Paid {Invoice.Id}")
