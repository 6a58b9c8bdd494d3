"""Greenfield stores endpoints: create, read, update, delete, validation, isolation."""
import pytest

from flashpay.accounts.models import Store, StoreMember
from tests.factories import StoreFactory, UserFactory, create_api_key, token_header

pytestmark = pytest.mark.django_db


def test_create_store_makes_the_caller_owner_and_returns_greenfield_fields(api_client):
    user = UserFactory()
    _, secret = create_api_key(user=user, permissions=["btcpay.store.canmodifystoresettings"])

    response = api_client.post(
        "/api/v1/stores",
        {"name": "Coffee", "defaultCurrency": "jmd", "additionalTrackedRates": ["usd"], "speedPolicy": "HighSpeed", "paymentTolerance": 1.5},
        format="json",
        **token_header(secret),
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "Coffee"
    assert body["defaultCurrency"] == "JMD"
    assert body["additionalTrackedRates"] == ["USD"]
    assert body["speedPolicy"] == "HighSpeed"
    assert body["paymentTolerance"] == 1.5
    assert body["invoiceExpiration"] == 900
    assert body["monitoringExpiration"] == 86400
    assert body["website"] == ""  # unset; see test_store_defaults.py
    assert len(body["id"]) >= 40
    assert StoreMember.objects.get(store_id=body["id"]).user == user
    assert StoreMember.objects.get(store_id=body["id"]).role == "Owner"


def test_expirations_are_rounded_down_to_a_minute(api_client):
    _, secret = create_api_key()
    response = api_client.post(
        "/api/v1/stores", {"name": "S", "invoiceExpiration": 959}, format="json", **token_header(secret)
    )
    assert response.status_code == 200
    assert response.json()["invoiceExpiration"] == 900


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "S", "invoiceExpiration": 10}, "invoiceExpiration"),
        ({"name": "S", "speedPolicy": "Warp"}, "speedPolicy"),
        ({"name": "S", "paymentTolerance": 101}, "paymentTolerance"),
        ({"name": "S", "website": "not a url"}, "website"),
        ({"name": "S", "brandColor": "red"}, "brandColor"),
    ],
)
def test_invalid_store_input_is_400_with_path_and_writes_nothing(api_client, payload, path):
    _, secret = create_api_key()
    response = api_client.post("/api/v1/stores", payload, format="json", **token_header(secret))
    assert response.status_code == 400
    errors = response.json()
    assert isinstance(errors, list)
    assert path in [error["path"] for error in errors]
    assert all(error["message"] for error in errors)
    assert Store.objects.count() == 0


def test_malformed_json_is_400_not_500(api_client):
    _, secret = create_api_key()
    response = api_client.generic(
        "POST", "/api/v1/stores", "{not json", content_type="application/json", **token_header(secret)
    )
    assert response.status_code == 400
    assert Store.objects.count() == 0


def test_get_update_delete_store(api_client):
    owner = UserFactory()
    store = StoreFactory(owner=owner)
    _, secret = create_api_key(user=owner)

    got = api_client.get(f"/api/v1/stores/{store.id}", **token_header(secret))
    assert got.status_code == 200
    assert got.json()["id"] == store.id

    updated = api_client.put(
        f"/api/v1/stores/{store.id}",
        {"name": "Renamed", "defaultCurrency": "EUR", "website": "https://shop.example.com"},
        format="json",
        **token_header(secret),
    )
    assert updated.status_code == 200, updated.content
    store.refresh_from_db()
    assert (store.name, store.default_currency, store.website) == (
        "Renamed",
        "EUR",
        "https://shop.example.com",
    )

    deleted = api_client.delete(f"/api/v1/stores/{store.id}", **token_header(secret))
    assert deleted.status_code == 200
    assert not Store.objects.filter(pk=store.id).exists()


def test_store_list_shows_only_the_callers_stores(api_client):
    user = UserFactory()
    mine = StoreFactory(owner=user)
    StoreFactory(owner=UserFactory())
    _, secret = create_api_key(user=user)

    response = api_client.get("/api/v1/stores", **token_header(secret))

    assert response.status_code == 200
    assert [s["id"] for s in response.json()] == [mine.id]


def test_scoped_key_lists_only_its_store(api_client):
    user = UserFactory()
    store_a = StoreFactory(owner=user)
    StoreFactory(owner=user)
    _, secret = create_api_key(
        user=user, permissions=[f"btcpay.store.canviewstoresettings:{store_a.id}"]
    )
    response = api_client.get("/api/v1/stores", **token_header(secret))
    assert [s["id"] for s in response.json()] == [store_a.id]


def test_other_users_store_is_refused_and_untouched(api_client):
    store = StoreFactory(owner=UserFactory(), name="Theirs")
    _, secret = create_api_key(user=UserFactory())

    assert api_client.get(f"/api/v1/stores/{store.id}", **token_header(secret)).status_code == 403
    put = api_client.put(
        f"/api/v1/stores/{store.id}", {"name": "Mine now"}, format="json", **token_header(secret)
    )
    assert put.status_code == 403
    assert put.json()["code"] == "missing-permission"
    assert api_client.delete(f"/api/v1/stores/{store.id}", **token_header(secret)).status_code == 403
    store.refresh_from_db()
    assert store.name == "Theirs"


def test_unknown_store_is_refused_like_a_foreign_one(api_client):
    _, secret = create_api_key()
    response = api_client.get("/api/v1/stores/doesnotexist", **token_header(secret))
    assert response.status_code == 403
    assert response.json()["code"] == "missing-permission"


def test_create_store_needs_an_unscoped_permission(api_client):
    user = UserFactory()
    store = StoreFactory(owner=user)
    _, secret = create_api_key(
        user=user, permissions=[f"btcpay.store.canmodifystoresettings:{store.id}"]
    )
    response = api_client.post("/api/v1/stores", {"name": "X"}, format="json", **token_header(secret))
    assert response.status_code == 403
    assert Store.objects.count() == 1


def test_put_merges_into_the_store_like_btcpay_2(api_client):
    owner = UserFactory()
    store = StoreFactory(owner=owner, default_currency="EUR", website="https://a.example", invoice_expiration=1800)
    _, secret = create_api_key(user=owner)

    response = api_client.put(f"/api/v1/stores/{store.id}", {"name": "Only name"}, format="json", **token_header(secret))

    # BTCPay 2.x (since 2.1.2) merges the request into the store: what is left out is kept
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["defaultCurrency"], body["website"], body["invoiceExpiration"]) == (
        "Only name", "EUR", "https://a.example", 1800,
    )
