"""Greenfield authentication: API key tokens and HTTP Basic, and their 401s."""
import base64

import pytest

from flashpay.accounts.models import APIKey
from tests.factories import (
    DEFAULT_PASSWORD,
    StoreFactory,
    UserFactory,
    create_api_key,
    token_header,
)

pytestmark = pytest.mark.django_db


def basic(login: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {raw}"}


def test_no_credentials_is_401_with_code(api_client):
    response = api_client.get("/api/v1/stores")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"] == "token"


@pytest.mark.parametrize(
    "header",
    ["token", "token a b", "token " + "f" * 40, "token \u00e9\u00e9", "token " + "a" * 300],
)
def test_malformed_or_unknown_token_is_401(api_client, header):
    create_api_key()  # a real key exists; the presented one is not it
    response = api_client.get("/api/v1/stores", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "unauthenticated"
    assert set(body) == {"code", "message"}


def test_valid_token_authenticates(api_client):
    user = UserFactory()
    store = StoreFactory(owner=user)
    _, secret = create_api_key(user=user)
    response = api_client.get(f"/api/v1/stores/{store.id}", **token_header(secret))
    assert response.status_code == 200


def test_revoked_token_is_401(api_client):
    _, secret = create_api_key()
    assert api_client.delete("/api/v1/api-keys/current", **token_header(secret)).status_code == 200
    response = api_client.get("/api/v1/stores", **token_header(secret))
    assert response.status_code == 401
    assert not APIKey.objects.exists()


def test_token_of_a_disabled_user_is_401(api_client):
    user = UserFactory(is_active=False)
    _, secret = create_api_key(user=user)
    assert api_client.get("/api/v1/stores", **token_header(secret)).status_code == 401


@pytest.mark.parametrize("login_field", ["username", "email"])
def test_basic_auth_with_username_or_email(api_client, login_field):
    user = UserFactory()
    store = StoreFactory(owner=user)
    response = api_client.get(
        f"/api/v1/stores/{store.id}", **basic(getattr(user, login_field), DEFAULT_PASSWORD)
    )
    assert response.status_code == 200


@pytest.mark.parametrize(("login", "password"), [("user-x", "wrong"), ("nobody", DEFAULT_PASSWORD)])
def test_basic_auth_wrong_password_or_unknown_user_is_401(api_client, login, password):
    UserFactory(username="user-x")
    response = api_client.get("/api/v1/stores", **basic(login, password))
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_secret_is_stored_only_as_its_hash():
    api_key, secret = create_api_key()
    stored = APIKey.objects.get(pk=api_key.pk)
    assert len(secret) == 40 and int(secret, 16) >= 0
    assert secret not in stored.key_hash
    assert secret not in str(stored.__dict__)
