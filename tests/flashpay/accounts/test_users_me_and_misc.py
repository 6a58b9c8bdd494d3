"""Greenfield GET /api/v1/users/me, and BTCPay's /misc/permissions and /misc/lang."""
import pytest

from flashpay.accounts import policies
from tests.factories import UserFactory, create_api_key, token_header
from tests.invoices.greenfield_schema import validate

pytestmark = pytest.mark.django_db


def test_users_me_needs_canviewprofile(api_client):
    user = UserFactory(first_name="Ada", last_name="Lovelace")
    _, secret = create_api_key(user=user, permissions=["btcpay.user.canviewprofile"])
    response = api_client.get("/api/v1/users/me", **token_header(secret))
    assert response.status_code == 200
    body = response.json()
    validate(body, "ApplicationUserData")
    assert (body["id"], body["email"], body["name"], body["roles"], body["disabled"]) == (
        str(user.pk), user.email, "Ada Lovelace", [], False,
    )
    _, other = create_api_key(user=user, permissions=["btcpay.store.canviewinvoices"])
    assert api_client.get("/api/v1/users/me", **token_header(other)).status_code == 403
    assert api_client.get("/api/v1/users/me").status_code == 401


def test_a_server_admin_has_the_serveradmin_role(api_client):
    admin = UserFactory(is_superuser=True, is_staff=True)
    _, secret = create_api_key(user=admin)
    assert api_client.get("/api/v1/users/me", **token_header(secret)).json()["roles"] == ["ServerAdmin"]


def test_permission_metadata(api_client):
    _, secret = create_api_key(permissions=[])
    response = api_client.get("/misc/permissions", **token_header(secret))
    assert response.status_code == 200
    by_name = {item["name"]: item["included"] for item in response.json()}
    assert set(by_name) == set(policies.ALL_POLICIES)
    assert by_name["btcpay.store.canmodifyinvoices"] == [
        "btcpay.store.cancreateinvoice", "btcpay.store.cancreatelightninginvoice", "btcpay.store.canviewinvoices",
    ]
    assert by_name["btcpay.store.canviewinvoices"] == []
    assert set(by_name["unrestricted"]) == set(policies.ALL_POLICIES) - {"unrestricted"}
    assert [item["name"] for item in response.json()] == sorted(by_name, key=str.lower)
    assert api_client.get("/misc/permissions").status_code == 401


def test_language_codes(api_client):
    _, secret = create_api_key(permissions=[])
    response = api_client.get("/misc/lang", **token_header(secret))
    assert response.status_code == 200
    assert response.json() == [
        {"code": "en", "currentLanguage": "English"},
        {"code": "fr", "currentLanguage": "Français"},
        {"code": "es", "currentLanguage": "Español"},
    ]
    assert api_client.get("/misc/lang").status_code == 401
