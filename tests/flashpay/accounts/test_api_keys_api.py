"""Greenfield API keys: create (password or unrestricted key), current, revoke."""
import base64
import hashlib

import pytest

from flashpay.accounts.models import APIKey
from tests.factories import DEFAULT_PASSWORD, UserFactory, create_api_key, token_header

pytestmark = pytest.mark.django_db


def basic(user) -> dict[str, str]:
    raw = base64.b64encode(f"{user.username}:{DEFAULT_PASSWORD}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {raw}"}


def test_create_key_with_password_returns_the_secret_once(api_client):
    user = UserFactory()
    response = api_client.post(
        "/api/v1/api-keys",
        {"label": "shop", "permissions": ["btcpay.store.canviewinvoices:STORE1", "BTCPAY.STORE.CANCREATEINVOICE"]},
        format="json",
        **basic(user),
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["label"] == "shop"
    assert body["permissions"] == ["btcpay.store.canviewinvoices:STORE1", "btcpay.store.cancreateinvoice"]
    secret = body["apiKey"]
    assert len(secret) == 40
    stored = APIKey.objects.get(user=user)
    assert stored.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    # the new key works
    current = api_client.get("/api/v1/api-keys/current", **token_header(secret))
    assert current.status_code == 200
    assert current.json() == body


def test_unrestricted_key_can_create_keys(api_client):
    user = UserFactory()
    _, secret = create_api_key(user=user, permissions=["unrestricted"])
    response = api_client.post(
        "/api/v1/api-keys", {"permissions": []}, format="json", **token_header(secret)
    )
    assert response.status_code == 200
    assert APIKey.objects.filter(user=user).count() == 2


def test_restricted_key_cannot_create_keys(api_client):
    user = UserFactory()
    _, secret = create_api_key(user=user, permissions=["btcpay.store.canmodifystoresettings"])
    response = api_client.post(
        "/api/v1/api-keys", {"permissions": ["unrestricted"]}, format="json", **token_header(secret)
    )
    assert response.status_code == 403
    assert response.json()["code"] == "missing-permission"
    assert APIKey.objects.count() == 1


@pytest.mark.parametrize(
    "permissions",
    [["btcpay.store.canfly"], ["unrestricted", "btcpay.server.canmanageusers:S1"], "notalist"],
)
def test_invalid_permissions_are_400_and_create_nothing(api_client, permissions):
    user = UserFactory()
    response = api_client.post(
        "/api/v1/api-keys", {"permissions": permissions}, format="json", **basic(user)
    )
    assert response.status_code == 400
    assert response.json()[0]["path"].startswith("permissions")
    assert not APIKey.objects.exists()


def test_current_key_needs_token_auth(api_client):
    user = UserFactory()
    assert api_client.get("/api/v1/api-keys/current", **basic(user)).status_code == 401
    assert api_client.get("/api/v1/api-keys/current").status_code == 401


def test_delete_current_revokes_only_that_key(api_client):
    user = UserFactory()
    _, secret = create_api_key(user=user, label="a")
    other, other_secret = create_api_key(user=user, label="b")
    response = api_client.delete("/api/v1/api-keys/current", **token_header(secret))
    assert response.status_code == 200
    assert response.json()["label"] == "a"
    assert list(APIKey.objects.all()) == [other]
    assert api_client.get("/api/v1/api-keys/current", **token_header(other_secret)).status_code == 200


def test_delete_key_by_value(api_client):
    user = UserFactory()
    _, secret = create_api_key(user=user)
    _, victim = create_api_key(user=user)
    assert api_client.delete(f"/api/v1/api-keys/{victim}", **token_header(secret)).status_code == 200
    assert api_client.get("/api/v1/api-keys/current", **token_header(victim)).status_code == 401


def test_cannot_delete_another_users_key(api_client):
    _, secret = create_api_key(user=UserFactory())
    _, theirs = create_api_key(user=UserFactory())
    response = api_client.delete(f"/api/v1/api-keys/{theirs}", **token_header(secret))
    assert response.status_code == 404
    assert APIKey.objects.count() == 2


def test_a_secret_in_the_delete_path_never_reaches_the_log(api_client, caplog):
    _, secret = create_api_key(user=UserFactory())
    _, theirs = create_api_key(user=UserFactory())
    with caplog.at_level("DEBUG"):
        assert api_client.delete(f"/api/v1/api-keys/{theirs}", **token_header(secret)).status_code == 404
        assert api_client.delete(f"/api/v1/api-keys/{theirs}").status_code == 401
    assert caplog.records, "the refusals are logged"
    assert all(theirs not in record.getMessage() for record in caplog.records)
