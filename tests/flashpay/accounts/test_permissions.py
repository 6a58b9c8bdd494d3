"""Roles x endpoints, key scoping, and a key limited by its user's role."""
import base64

import pytest

from flashpay.accounts import policies
from flashpay.accounts.models import Store, StoreMember
from flashpay.accounts.policies import Permission, PermissionSet
from flashpay.accounts.selectors import principal_has_permission
from tests.factories import (
    DEFAULT_PASSWORD,
    StoreFactory,
    UserFactory,
    add_member,
    create_api_key,
    token_header,
)

pytestmark = pytest.mark.django_db

ROLES = ["Owner", "Manager", "Employee", "Guest"]


def _basic(user):
    raw = base64.b64encode(f"{user.username}:{DEFAULT_PASSWORD}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {raw}"}


# (method, path template, body, roles allowed)
ENDPOINTS = [
    ("get", "/api/v1/stores/{store}", None, {"Owner", "Manager"}),
    ("put", "/api/v1/stores/{store}", {"name": "Changed"}, {"Owner"}),
    ("delete", "/api/v1/stores/{store}", None, {"Owner"}),
    ("get", "/api/v1/stores/{store}/users", None, {"Owner"}),
    ("post", "/api/v1/stores/{store}/users", {"userId": "{newcomer}", "storeRole": "Guest"}, {"Owner"}),
    ("delete", "/api/v1/stores/{store}/users/{newcomer_member}", None, {"Owner"}),
    ("get", "/api/v1/stores/{store}/roles", None, {"Owner"}),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "allowed"), ENDPOINTS)
@pytest.mark.parametrize("auth", ["basic", "unrestricted-key"])
def test_role_endpoint_matrix(api_client, role, method, path, body, allowed, auth):
    # given: a store with an owner, the caller in `role`, and a user who may be added/removed
    owner = UserFactory()
    store = StoreFactory(owner=owner, name="Original")
    caller = owner if role == "Owner" else UserFactory()
    if role != "Owner":
        add_member(store=store, user=caller, role=role)
    newcomer = UserFactory()
    member = UserFactory()
    add_member(store=store, user=member, role="Employee")
    values = {"store": store.id, "newcomer": newcomer.email, "newcomer_member": member.email}
    url = path.format(**values)
    payload = {k: v.format(**values) for k, v in body.items()} if body else None
    headers = _basic(caller) if auth == "basic" else token_header(create_api_key(user=caller)[1])
    memberships_before = set(StoreMember.objects.values_list("store_id", "user_id", "role"))

    # when
    response = getattr(api_client, method)(url, payload, format="json", **headers)

    # then
    if role in allowed:
        assert response.status_code == 200, response.content
    else:
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "missing-permission"
        store.refresh_from_db()
        assert store.name == "Original"
        assert set(StoreMember.objects.values_list("store_id", "user_id", "role")) == memberships_before


@pytest.mark.parametrize(
    ("role", "granted", "refused"),
    [
        ("Owner", [policies.CAN_MODIFY_STORE_SETTINGS, policies.CAN_CREATE_INVOICE, policies.CAN_MANAGE_WALLETS], []),
        (
            "Manager",
            [policies.CAN_VIEW_STORE_SETTINGS, policies.CAN_MODIFY_INVOICES, policies.CAN_MODIFY_WEBHOOKS, policies.CAN_MANAGE_PAYOUTS],
            [policies.CAN_MODIFY_STORE_SETTINGS, policies.CAN_MANAGE_WALLETS],
        ),
        (
            "Employee",
            [policies.CAN_CREATE_INVOICE, policies.CAN_VIEW_INVOICES, policies.CAN_MODIFY_PAYMENT_REQUESTS],
            [policies.CAN_VIEW_STORE_SETTINGS, policies.CAN_MODIFY_WEBHOOKS, policies.CAN_MANAGE_PAYOUTS],
        ),
        (
            "Guest",
            [policies.CAN_CREATE_INVOICE, policies.CAN_VIEW_INVOICES, policies.CAN_VIEW_PAYMENT_REQUESTS],
            [policies.CAN_VIEW_STORE_SETTINGS, policies.CAN_MODIFY_PAYMENT_REQUESTS, policies.CAN_VIEW_REPORTS],
        ),
    ],
)
def test_role_permissions_for_later_endpoints(role, granted, refused):
    user = UserFactory()
    store = StoreFactory()
    add_member(store=store, user=user, role=role)
    everything = PermissionSet.unrestricted()
    for policy in granted:
        assert principal_has_permission(user=user, permission_set=everything, policy=policy, store_id=store.id)
    for policy in refused:
        assert not principal_has_permission(
            user=user, permission_set=everything, policy=policy, store_id=store.id
        )


def test_policy_implications_follow_btcpay():
    assert Permission.parse("unrestricted").contains(policies.CAN_MODIFY_SERVER_SETTINGS)
    settings = Permission.parse(policies.CAN_MODIFY_STORE_SETTINGS)
    assert all(settings.contains(p, "s") for p in policies.STORE_POLICIES)
    assert Permission.parse(policies.CAN_MODIFY_INVOICES).contains(policies.CAN_VIEW_INVOICES, "s")
    assert not Permission.parse(policies.CAN_VIEW_INVOICES).contains(policies.CAN_MODIFY_INVOICES, "s")
    assert not Permission.parse(policies.CAN_VIEW_STORE_SETTINGS).contains(policies.CAN_CREATE_INVOICE, "s")
    scoped = Permission.parse(f"{policies.CAN_VIEW_INVOICES}:A")
    assert scoped.contains(policies.CAN_VIEW_INVOICES, "A")
    assert not scoped.contains(policies.CAN_VIEW_INVOICES, "B")
    assert not scoped.contains(policies.CAN_VIEW_INVOICES, None)


@pytest.mark.parametrize(
    "text", ["btcpay.store.canfly", f"{policies.CAN_MANAGE_USERS}:store", f"{policies.CAN_VIEW_INVOICES}:", ""]
)
def test_invalid_permissions_do_not_parse(text):
    with pytest.raises(ValueError):
        Permission.parse(text)


def test_key_scoped_to_store_a_cannot_touch_store_b(api_client):
    user = UserFactory()
    store_a = StoreFactory(owner=user, name="A")
    store_b = StoreFactory(owner=user, name="B")
    _, secret = create_api_key(
        user=user, permissions=[f"{policies.CAN_MODIFY_STORE_SETTINGS}:{store_a.id}"]
    )

    assert api_client.get(f"/api/v1/stores/{store_a.id}", **token_header(secret)).status_code == 200
    assert api_client.get(f"/api/v1/stores/{store_b.id}", **token_header(secret)).status_code == 403
    response = api_client.put(
        f"/api/v1/stores/{store_b.id}", {"name": "Hacked"}, format="json", **token_header(secret)
    )
    assert response.status_code == 403
    assert api_client.delete(f"/api/v1/stores/{store_b.id}", **token_header(secret)).status_code == 403
    store_b.refresh_from_db()
    assert store_b.name == "B"


def test_key_with_more_rights_than_its_user_is_limited_by_the_role(api_client):
    owner = UserFactory()
    store = StoreFactory(owner=owner, name="Original")
    guest = UserFactory()
    add_member(store=store, user=guest, role="Guest")
    _, secret = create_api_key(user=guest, permissions=["unrestricted"])

    response = api_client.put(
        f"/api/v1/stores/{store.id}", {"name": "Guest was here"}, format="json", **token_header(secret)
    )

    assert response.status_code == 403
    store.refresh_from_db()
    assert store.name == "Original"


def test_view_only_key_cannot_modify(api_client):
    user = UserFactory()
    store = StoreFactory(owner=user, name="Original")
    _, secret = create_api_key(user=user, permissions=[policies.CAN_VIEW_STORE_SETTINGS])
    assert api_client.get(f"/api/v1/stores/{store.id}", **token_header(secret)).status_code == 200
    response = api_client.put(
        f"/api/v1/stores/{store.id}", {"name": "X"}, format="json", **token_header(secret)
    )
    assert response.status_code == 403
    assert api_client.post("/api/v1/stores", {"name": "New"}, format="json", **token_header(secret)).status_code == 403
    assert Store.objects.count() == 1


def test_server_permission_needs_a_server_admin():
    store = StoreFactory()
    everything = PermissionSet.unrestricted()
    assert not principal_has_permission(
        user=UserFactory(), permission_set=everything, policy=policies.CAN_MODIFY_SERVER_SETTINGS
    )
    assert principal_has_permission(
        user=UserFactory(is_superuser=True), permission_set=everything, policy=policies.CAN_MODIFY_SERVER_SETTINGS
    )
    # A server admin is not a member of every store.
    assert not principal_has_permission(
        user=UserFactory(is_superuser=True),
        permission_set=everything,
        policy=policies.CAN_VIEW_STORE_SETTINGS,
        store_id=store.id,
    )
