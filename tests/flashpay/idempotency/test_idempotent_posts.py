"""Idempotency-Key on API POSTs: replay, conflict, concurrency, expiry, secrets at rest."""
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from flashpay.accounts.models import APIKey, Store
from flashpay.idempotency.models import IdempotencyRecord
from tests.concurrency import run_together
from tests.factories import UserFactory, create_api_key, token_header


def post_store(client, secret, body, key):
    return client.post(
        "/api/v1/stores", body, format="json", HTTP_IDEMPOTENCY_KEY=key, **token_header(secret)
    )


@pytest.mark.django_db
def test_same_key_same_body_replays_the_stored_response_and_creates_once(api_client):
    _, secret = create_api_key()

    first = post_store(api_client, secret, {"name": "Shop"}, "k-1")
    second = post_store(api_client, secret, {"name": "Shop"}, "k-1")

    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert Store.objects.count() == 1


@pytest.mark.django_db
def test_same_key_other_body_is_422_and_creates_nothing_more(api_client):
    _, secret = create_api_key()
    post_store(api_client, secret, {"name": "Shop"}, "k-1")

    response = post_store(api_client, secret, {"name": "Other shop"}, "k-1")

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency-key-reused"
    assert list(Store.objects.values_list("name", flat=True)) == ["Shop"]


@pytest.mark.django_db
def test_without_the_header_every_post_executes(api_client):
    _, secret = create_api_key()
    api_client.post("/api/v1/stores", {"name": "Shop"}, format="json", **token_header(secret))
    api_client.post("/api/v1/stores", {"name": "Shop"}, format="json", **token_header(secret))
    assert Store.objects.count() == 2


@pytest.mark.django_db
def test_key_in_progress_is_409_and_nothing_runs(api_client):
    user = UserFactory()
    _, secret = create_api_key(user=user)
    # given: the first request with this key is still running (its claim row is committed)
    first = post_store(api_client, secret, {"name": "Shop"}, "k-1")
    IdempotencyRecord.objects.filter(key="k-1").update(
        state=IdempotencyRecord.State.IN_PROGRESS, response_sealed=None
    )

    response = post_store(api_client, secret, {"name": "Shop"}, "k-1")

    assert first.status_code == 200
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency-key-in-use"
    assert Store.objects.count() == 1


@pytest.mark.django_db
def test_failed_request_releases_the_key(api_client):
    _, secret = create_api_key()
    bad = post_store(api_client, secret, {"name": ""}, "k-1")
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.exists()

    good = post_store(api_client, secret, {"name": "Shop"}, "k-1")
    assert good.status_code == 200
    assert Store.objects.count() == 1


@pytest.mark.django_db
def test_expired_key_executes_again(api_client):
    _, secret = create_api_key()
    post_store(api_client, secret, {"name": "Shop"}, "k-1")
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    again = post_store(api_client, secret, {"name": "Shop"}, "k-1")

    assert again.status_code == 200
    assert "Idempotent-Replayed" not in again.headers
    assert Store.objects.count() == 2
    assert IdempotencyRecord.objects.get().expires_at > timezone.now() + timedelta(hours=23)


@pytest.mark.django_db
def test_keys_are_per_user(api_client):
    _, secret_a = create_api_key(user=UserFactory())
    _, secret_b = create_api_key(user=UserFactory())
    a = post_store(api_client, secret_a, {"name": "Shop"}, "same")
    b = post_store(api_client, secret_b, {"name": "Shop"}, "same")
    assert a.status_code == b.status_code == 200
    assert a.json()["id"] != b.json()["id"]
    assert Store.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256])
def test_bad_key_is_400(api_client, key):
    _, secret = create_api_key()
    response = post_store(api_client, secret, {"name": "Shop"}, key)
    assert response.status_code == 400
    assert response.json()[0]["path"] == "Idempotency-Key"
    assert Store.objects.count() == 0


@pytest.mark.django_db
def test_api_key_creation_replays_the_same_key_and_keeps_the_secret_encrypted(api_client):
    user = UserFactory()
    _, secret = create_api_key(user=user)
    body = {"label": "pos", "permissions": ["btcpay.store.cancreateinvoice"]}

    first = api_client.post("/api/v1/api-keys", body, format="json", HTTP_IDEMPOTENCY_KEY="k", **token_header(secret))
    second = api_client.post("/api/v1/api-keys", body, format="json", HTTP_IDEMPOTENCY_KEY="k", **token_header(secret))

    assert first.status_code == second.status_code == 200
    new_secret = first.json()["apiKey"]
    assert second.json()["apiKey"] == new_secret
    assert APIKey.objects.filter(user=user).count() == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT response_sealed FROM idempotency_idempotencyrecord")
        (stored,) = cursor.fetchone()
    assert new_secret.encode() not in bytes(stored)


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_execute_once():
    _, secret = create_api_key()

    def worker():
        return post_store(APIClient(), secret, {"name": "Race"}, "race-key")

    results = run_together(*[worker] * 6).values()

    assert Store.objects.count() == 1
    assert {r.status_code for r in results} <= {200, 409}
    ok_bodies = [r.json() for r in results if r.status_code == 200]
    assert ok_bodies and all(body == ok_bodies[0] for body in ok_bodies)
