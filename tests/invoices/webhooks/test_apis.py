"""Greenfield webhook API: CRUD, validation, deliveries, redelivery, and who may do what."""
from __future__ import annotations

import pytest

from flashpay.accounts import policies
from invoices.webhooks.models import Webhook, WebhookDelivery
from invoices.webhooks.services import webhook_create, webhook_deliveries_send_due
from tests.factories import StoreFactory, UserFactory, add_member, create_api_key, token_header
from tests.invoices.webhooks.conftest import deliver, invoice_event

pytestmark = pytest.mark.django_db
WEBHOOKS = policies.CAN_MODIFY_WEBHOOKS


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def store(owner):
    return StoreFactory(owner=owner)


@pytest.fixture
def auth(owner):
    _, secret = create_api_key(user=owner, permissions=[WEBHOOKS])
    return token_header(secret)


def _create(api_client, store, auth, **body):
    body = {"url": "https://merchant.example/hook", **body}
    return api_client.post(f"/api/v1/stores/{store.pk}/webhooks", body, format="json", **auth)


def test_create_returns_the_secret_once_and_get_never(api_client, store, auth):
    response = _create(api_client, store, auth, secret="my-secret")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["secret"] == "my-secret"
    assert data["enabled"] is True and data["automaticRedelivery"] is True
    assert data["authorizedEvents"] == {"everything": True, "specificEvents": []}
    got = api_client.get(f"/api/v1/webhooks/{data['id']}", **auth)
    assert got.status_code == 200
    assert "secret" not in got.json()
    assert "my-secret" not in got.content.decode()
    listed = api_client.get(f"/api/v1/stores/{store.pk}/webhooks", **auth)
    assert [w["id"] for w in listed.json()] == [data["id"]]
    assert "my-secret" not in listed.content.decode()


def test_create_generates_a_secret_when_none_given(api_client, store, auth):
    data = _create(api_client, store, auth, secret=None).json()
    assert len(data["secret"]) >= 16


@pytest.mark.parametrize(
    "body,path",
    [
        ({"url": "ftp://merchant.example/hook"}, "url"),
        ({"url": "file:///etc/passwd"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://user:pw@merchant.example/hook"}, "url"),
        ({"url": None}, "url"),
        ({"authorizedEvents": {"everything": False, "specificEvents": ["InvoiceNope"]}}, "authorizedEvents.specificEvents"),
        ({"enabled": "maybe"}, "enabled"),
    ],
)
def test_bad_input_is_a_400_and_writes_nothing(api_client, store, auth, body, path):
    response = _create(api_client, store, auth, **body)
    assert response.status_code == 400
    assert any(e["path"].startswith(path) for e in response.json()), response.json()
    assert Webhook.objects.count() == 0


def test_update_replaces_settings_and_keeps_secret_when_empty(api_client, store, auth, receiver, clock):
    data = _create(api_client, store, auth, url=receiver.url(), secret="first").json()
    receiver.secret = "first"
    body = {
        "url": receiver.url("/v2"), "enabled": True, "automaticRedelivery": False,
        "authorizedEvents": {"everything": False, "specificEvents": ["InvoiceSettled"]}, "secret": "",
    }
    response = api_client.put(f"/api/v1/webhooks/{data['id']}", body, format="json", **auth)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": data["id"], "enabled": True, "automaticRedelivery": False, "url": receiver.url("/v2"),
        "authorizedEvents": {"everything": False, "specificEvents": ["InvoiceSettled"]},
    }
    deliver(invoice_event(store_id=store.pk))
    webhook_deliveries_send_due()
    [request] = receiver.received("/v2")
    assert request.signature_valid  # still signed with "first"


def test_delete(api_client, store, auth):
    data = _create(api_client, store, auth).json()
    assert api_client.delete(f"/api/v1/webhooks/{data['id']}", **auth).status_code == 200
    assert api_client.get(f"/api/v1/webhooks/{data['id']}", **auth).status_code == 404
    assert api_client.delete(f"/api/v1/webhooks/{data['id']}", **auth).status_code == 404
    assert not Webhook.objects.exists()


def test_deliveries_list_get_request_and_redeliver(api_client, store, auth, receiver, clock):
    webhook, secret = webhook_create(store=store, url=receiver.url())
    receiver.secret = secret
    receiver.answer("/hook", 500)
    deliver(invoice_event(store_id=store.pk, type="InvoiceCreated"))
    webhook_deliveries_send_due()
    clock.advance(seconds=1)
    deliver(invoice_event(store_id=store.pk, type="InvoiceSettled"))
    webhook_deliveries_send_due()
    base = f"/api/v1/webhooks/{webhook.pk}/deliveries"

    listed = api_client.get(base, **auth).json()
    assert [d["status"] for d in listed] == ["HttpSuccess", "HttpError"]  # latest first
    first = listed[1]
    assert first["httpCode"] == 500 and first["pendingRetry"] is True
    assert first["errorMessage"] == "The endpoint answered HTTP 500"
    assert isinstance(first["timestamp"], int) and isinstance(first["deliveryTime"], int)
    assert api_client.get(base + "?count=1", **auth).json() == listed[:1]
    assert api_client.get(base + "?count=abc", **auth).status_code == 400

    one = api_client.get(f"{base}/{first['id']}", **auth)
    assert one.status_code == 200 and one.json()["id"] == first["id"]
    request = api_client.get(f"{base}/{first['id']}/request", **auth).json()
    assert request["deliveryId"] == first["id"] and request["type"] == "InvoiceCreated"

    redeliver = api_client.post(f"{base}/{first['id']}/redeliver", **auth)
    assert redeliver.status_code == 200
    new_id = redeliver.json()
    assert isinstance(new_id, str) and new_id != first["id"]
    webhook_deliveries_send_due()
    sent = receiver.received()[-1].json
    assert sent["deliveryId"] == new_id
    assert sent["isRedelivery"] is True and sent["originalDeliveryId"] == first["id"]
    assert api_client.get(f"{base}/nope", **auth).status_code == 404
    assert api_client.post(f"{base}/nope/redeliver", **auth).status_code == 404


def test_pruned_delivery_cannot_be_read_or_redelivered(api_client, store, auth, receiver, clock):
    webhook, _ = webhook_create(store=store, url=receiver.url())
    deliver(invoice_event(store_id=store.pk))
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(request_body=None)
    base = f"/api/v1/webhooks/{webhook.pk}/deliveries/{delivery.pk}"
    assert api_client.get(base + "/request", **auth).json()["code"] == "webhookdelivery-pruned"
    response = api_client.post(base + "/redeliver", **auth)
    assert response.status_code == 409 and response.json()["code"] == "webhookdelivery-pruned"
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize(
    "role,allowed", [("Owner", True), ("Manager", True), ("Employee", False), ("Guest", False)]
)
def test_role_matrix(api_client, store, role, allowed):
    user = UserFactory()
    add_member(store=store, user=user, role=role)
    auth = token_header(create_api_key(user=user)[1])  # unrestricted key: the role decides
    webhook, _ = webhook_create(store=store, url="https://merchant.example/a")
    calls = [
        api_client.get(f"/api/v1/stores/{store.pk}/webhooks", **auth),
        _create(api_client, store, auth),
        api_client.get(f"/api/v1/webhooks/{webhook.pk}", **auth),
        api_client.get(f"/api/v1/webhooks/{webhook.pk}/deliveries", **auth),
        api_client.put(f"/api/v1/webhooks/{webhook.pk}", {"url": "https://x.example/"}, format="json", **auth),
        api_client.delete(f"/api/v1/webhooks/{webhook.pk}", **auth),
    ]
    codes = [c.status_code for c in calls]
    if allowed:
        assert codes == [200] * 6
    else:
        # store paths: 403 missing-permission; flat paths: the webhook is not theirs to see
        assert codes == [403, 403, 404, 404, 404, 404]
        assert Webhook.objects.filter(pk=webhook.pk, url="https://merchant.example/a").exists()
        assert Webhook.objects.count() == 1


def test_key_without_webhook_permission_is_refused(api_client, store, owner):
    auth = token_header(create_api_key(user=owner, permissions=[policies.CAN_VIEW_INVOICES])[1])
    webhook, _ = webhook_create(store=store, url="https://merchant.example/a")
    assert api_client.get(f"/api/v1/stores/{store.pk}/webhooks", **auth).status_code == 403
    assert _create(api_client, store, auth).status_code == 403
    response = api_client.get(f"/api/v1/webhooks/{webhook.pk}", **auth)
    assert response.status_code == 403 and response.json()["code"] == "missing-permission"
    assert Webhook.objects.count() == 1


def test_unauthenticated_is_401(api_client, store):
    webhook, _ = webhook_create(store=store, url="https://merchant.example/a")
    assert api_client.get(f"/api/v1/stores/{store.pk}/webhooks").status_code == 401
    assert api_client.get(f"/api/v1/webhooks/{webhook.pk}").status_code == 401


def test_other_stores_webhook_is_refused(api_client, store, owner, auth):
    # given: a webhook of a store this owner has nothing to do with
    other_store = StoreFactory(owner=UserFactory())
    theirs, _ = webhook_create(store=other_store, url="https://other.example/hook")
    deliver(invoice_event(store_id=other_store.pk))
    delivery = WebhookDelivery.objects.get()
    # then: not listed, not readable, not changeable, not redeliverable
    assert api_client.get(f"/api/v1/stores/{other_store.pk}/webhooks", **auth).status_code == 403
    for call in (
        api_client.get(f"/api/v1/webhooks/{theirs.pk}", **auth),
        api_client.put(f"/api/v1/webhooks/{theirs.pk}", {"url": "https://evil.example/"}, format="json", **auth),
        api_client.delete(f"/api/v1/webhooks/{theirs.pk}", **auth),
        api_client.get(f"/api/v1/webhooks/{theirs.pk}/deliveries/{delivery.pk}/request", **auth),
        api_client.post(f"/api/v1/webhooks/{theirs.pk}/deliveries/{delivery.pk}/redeliver", **auth),
        # and not through our own store's path either
        api_client.get(f"/api/v1/stores/{store.pk}/webhooks/{theirs.pk}", **auth),
    ):
        assert call.status_code == 404, call.content
    theirs.refresh_from_db()
    assert theirs.url == "https://other.example/hook"
    assert WebhookDelivery.objects.count() == 1


def test_key_scoped_to_another_store_is_refused(api_client, store, owner):
    mine_too = StoreFactory(owner=owner)
    auth = token_header(create_api_key(user=owner, permissions=[f"{WEBHOOKS}:{mine_too.pk}"])[1])
    webhook, _ = webhook_create(store=store, url="https://merchant.example/a")
    assert api_client.get(f"/api/v1/stores/{store.pk}/webhooks", **auth).status_code == 403
    assert api_client.get(f"/api/v1/webhooks/{webhook.pk}", **auth).status_code == 404
    assert api_client.get(f"/api/v1/stores/{mine_too.pk}/webhooks", **auth).status_code == 200


def test_store_scoped_legacy_paths(api_client, store, auth):
    data = _create(api_client, store, auth).json()
    response = api_client.get(f"/api/v1/stores/{store.pk}/webhooks/{data['id']}", **auth)
    assert response.status_code == 200 and response.json()["id"] == data["id"]


def test_create_with_idempotency_key_makes_one_webhook(api_client, store, auth):
    headers = {**auth, "HTTP_IDEMPOTENCY_KEY": "create-hook-1"}
    body = {"url": "https://merchant.example/hook"}
    first = api_client.post(f"/api/v1/stores/{store.pk}/webhooks", body, format="json", **headers)
    again = api_client.post(f"/api/v1/stores/{store.pk}/webhooks", body, format="json", **headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert Webhook.objects.count() == 1
