"""Greenfield store users: add, change role, remove; a store always keeps an owner."""
import pytest

from flashpay.accounts.models import StoreMember
from tests.factories import StoreFactory, UserFactory, add_member, create_api_key, token_header

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_store_secret():
    owner = UserFactory()
    store = StoreFactory(owner=owner)
    _, secret = create_api_key(user=owner)
    return owner, store, secret


def test_add_user_by_email_and_list(api_client, owner_store_secret):
    owner, store, secret = owner_store_secret
    newcomer = UserFactory(email="New.Comer@example.com")

    response = api_client.post(
        f"/api/v1/stores/{store.id}/users",
        {"userId": "new.comer@EXAMPLE.com", "storeRole": "Employee"},
        format="json",
        **token_header(secret),
    )

    assert response.status_code == 200, response.content
    listed = api_client.get(f"/api/v1/stores/{store.id}/users", **token_header(secret)).json()
    assert {(u["id"], u["email"], u["storeRole"]) for u in listed} == {
        (str(owner.pk), owner.email, "Owner"),
        (str(newcomer.pk), newcomer.email, "Employee"),
    }


def test_add_user_by_id_with_deprecated_role_field(api_client, owner_store_secret):
    _, store, secret = owner_store_secret
    user = UserFactory()
    response = api_client.post(
        f"/api/v1/stores/{store.id}/users", {"userId": str(user.pk), "role": "Guest"}, format="json", **token_header(secret)
    )
    assert response.status_code == 200
    assert StoreMember.objects.get(store=store, user=user).role == "Guest"


def test_add_existing_member_is_409(api_client, owner_store_secret):
    owner, store, secret = owner_store_secret
    response = api_client.post(
        f"/api/v1/stores/{store.id}/users", {"userId": owner.email, "storeRole": "Guest"}, format="json", **token_header(secret)
    )
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate-store-user-role"
    assert StoreMember.objects.get(store=store, user=owner).role == "Owner"


def test_add_unknown_user_is_404(api_client, owner_store_secret):
    _, store, secret = owner_store_secret
    response = api_client.post(
        f"/api/v1/stores/{store.id}/users", {"userId": "ghost@example.com", "storeRole": "Guest"}, format="json", **token_header(secret)
    )
    assert response.status_code == 404
    assert StoreMember.objects.filter(store=store).count() == 1


@pytest.mark.parametrize(
    ("payload", "path"),
    [({"userId": "x@example.com", "storeRole": "King"}, "storeRole"), ({"storeRole": "Guest"}, "userId"), ({"userId": "a@b.c"}, "storeRole")],
)
def test_add_user_bad_input_is_400(api_client, owner_store_secret, payload, path):
    _, store, secret = owner_store_secret
    UserFactory(email="x@example.com")
    response = api_client.post(f"/api/v1/stores/{store.id}/users", payload, format="json", **token_header(secret))
    assert response.status_code == 400
    assert response.json()[0]["path"] == path
    assert StoreMember.objects.filter(store=store).count() == 1


def test_remove_member(api_client, owner_store_secret):
    _, store, secret = owner_store_secret
    employee = UserFactory()
    add_member(store=store, user=employee, role="Employee")
    response = api_client.delete(f"/api/v1/stores/{store.id}/users/{employee.pk}", **token_header(secret))
    assert response.status_code == 200
    assert not StoreMember.objects.filter(store=store, user=employee).exists()


def test_removing_or_demoting_the_last_owner_is_409(api_client, owner_store_secret):
    owner, store, secret = owner_store_secret
    removed = api_client.delete(f"/api/v1/stores/{store.id}/users/{owner.email}", **token_header(secret))
    assert removed.status_code == 409
    assert removed.json()["code"] == "store-user-role-orphaned"
    demoted = api_client.put(
        f"/api/v1/stores/{store.id}/users/{owner.email}", {"storeRole": "Guest"}, format="json", **token_header(secret)
    )
    assert demoted.status_code == 409
    assert StoreMember.objects.get(store=store, user=owner).role == "Owner"


def test_second_owner_allows_removing_the_first(api_client, owner_store_secret):
    owner, store, secret = owner_store_secret
    other = UserFactory()
    add_member(store=store, user=other, role="Owner")
    response = api_client.delete(f"/api/v1/stores/{store.id}/users/{owner.pk}", **token_header(secret))
    assert response.status_code == 200
    assert list(StoreMember.objects.filter(store=store).values_list("user_id", "role")) == [(other.pk, "Owner")]


def test_change_role(api_client, owner_store_secret):
    _, store, secret = owner_store_secret
    user = UserFactory()
    add_member(store=store, user=user, role="Guest")
    response = api_client.put(
        f"/api/v1/stores/{store.id}/users/{user.pk}", {"storeRole": "Manager"}, format="json", **token_header(secret)
    )
    assert response.status_code == 200
    assert StoreMember.objects.get(store=store, user=user).role == "Manager"
    # the new role takes effect at once
    _, user_secret = create_api_key(user=user)
    assert api_client.get(f"/api/v1/stores/{store.id}", **token_header(user_secret)).status_code == 200
