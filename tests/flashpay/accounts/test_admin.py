"""Operator admin: API key secret shown once, permissions editable, stores with members."""
import pytest
from django.contrib.messages import get_messages

from flashpay.accounts.models import APIKey
from tests.factories import StoreFactory, UserFactory, add_member, create_api_key, token_header

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_creating_a_key_shows_the_secret_once_and_it_works(admin_client, api_client):
    owner = UserFactory()
    store = StoreFactory(owner=owner)

    response = admin_client.post(
        "/admin/accounts/apikey/add/",
        {"user": owner.pk, "label": "till", "permissions_text": f"btcpay.store.canviewstoresettings:{store.id}\n"},
        follow=True,
    )

    assert response.status_code == 200
    notes = [str(m) for m in get_messages(response.wsgi_request)]
    secrets_shown = [n.split("API key created: ")[1].split(" ")[0] for n in notes if "API key created" in n]
    assert len(secrets_shown) == 1
    secret = secrets_shown[0]
    key = APIKey.objects.get()
    assert key.permissions == [f"btcpay.store.canviewstoresettings:{store.id}"]
    assert api_client.get(f"/api/v1/stores/{store.id}", **token_header(secret)).status_code == 200
    # never again: the change page does not contain it
    page = admin_client.get(f"/admin/accounts/apikey/{key.pk}/change/")
    assert page.status_code == 200
    assert secret not in page.content.decode()


def test_invalid_permission_in_admin_is_a_form_error(admin_client):
    owner = UserFactory()
    response = admin_client.post(
        "/admin/accounts/apikey/add/", {"user": owner.pk, "label": "x", "permissions_text": "btcpay.store.canfly"}
    )
    assert response.status_code == 200
    assert "Unknown permission" in response.content.decode()
    assert not APIKey.objects.exists()


def test_editing_permissions_narrows_the_key(admin_client, api_client):
    owner = UserFactory()
    store = StoreFactory(owner=owner, name="Original")
    key, secret = create_api_key(user=owner)
    response = admin_client.post(
        f"/admin/accounts/apikey/{key.pk}/change/",
        {"label": "narrowed", "permissions_text": "btcpay.store.canviewstoresettings"},
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.permissions == ["btcpay.store.canviewstoresettings"]
    put = api_client.put(f"/api/v1/stores/{store.id}", {"name": "X"}, format="json", **token_header(secret))
    assert put.status_code == 403


def test_store_admin_lists_members(admin_client):
    owner = UserFactory(username="the-owner")
    store = StoreFactory(owner=owner)
    add_member(store=store, user=UserFactory(username="the-guest"), role="Guest")
    page = admin_client.get(f"/admin/accounts/store/{store.pk}/change/")
    assert page.status_code == 200
    content = page.content.decode()
    assert "the-owner" in content or str(owner.pk) in content
    assert admin_client.get("/admin/accounts/store/").status_code == 200
    assert admin_client.get("/admin/accounts/user/").status_code == 200
