"""BTCPay's /api-keys/authorize, driven as the WooCommerce plugin's "generate API key" button uses it."""
import logging
import re
from html import unescape
from urllib.parse import urlencode

import pytest
from django.test import Client

from flashpay.accounts.models import APIKey
from tests.factories import DEFAULT_PASSWORD, StoreFactory, UserFactory, add_member, token_header

pytestmark = pytest.mark.django_db

# GreenfieldApiAuthorization::REQUIRED_PERMISSIONS + OPTIONAL_PERMISSIONS of the WooCommerce plugin
WOOCOMMERCE_PERMISSIONS = [
    "btcpay.store.canviewinvoices", "btcpay.store.cancreateinvoice", "btcpay.store.canviewstoresettings",
    "btcpay.store.canmodifyinvoices", "btcpay.store.cancreatenonapprovedpullpayments",
    "btcpay.store.webhooks.canmodifywebhooks",
]
CALLBACK = "https://shop.example/?btcpay-settings-callback"


def authorize_url(**params) -> str:
    """As the PHP client's ApiKey::getAuthorizeUrl builds it: repeated permissions, booleans as words."""
    query = {"permissions": WOOCOMMERCE_PERMISSIONS, "applicationName": "WooCommerce", "strict": "true",
             "selectiveStores": "true", "redirect": CALLBACK, **params}
    return "/api-keys/authorize?" + urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)


def signed_in(user) -> Client:
    client = Client()
    response = client.post("/login/", {"username": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302, response.content
    return client


def posted_form(response) -> tuple[str, list[tuple[str, str]]]:
    """(action, fields) of the page's auto-submitted form, as the browser would POST it."""
    html = response.content.decode()
    action = unescape(re.search(r'<form id="post-redirect" method="post" action="([^"]+)"', html).group(1))
    fields = [(unescape(n), unescape(v)) for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)]
    return action, fields


def woocommerce_accepts(permissions: list[str]) -> bool:
    """The plugin's hasSingleStore() and hasRequiredPermissions() (GreenfieldApiAuthorization.php)."""
    stores = {p.split(":")[1] for p in permissions if p.count(":") == 1}
    single = all(p.count(":") == 1 for p in permissions) and len(stores) == 1
    names = {p.split(":")[0] for p in permissions} - set(WOOCOMMERCE_PERMISSIONS[4:])
    return single and names == set(WOOCOMMERCE_PERMISSIONS[:4])


@pytest.fixture
def owner():
    user = UserFactory()
    store = StoreFactory(owner=user, name="Coffee")
    StoreFactory(owner=user, name="Tea")
    return user, store


def test_a_store_owner_signs_in_picks_a_store_and_the_key_is_posted_back(owner, api_client, caplog):
    user, store = owner
    client = Client()
    first = client.get(authorize_url())
    assert first.status_code == 302 and first["Location"].startswith("/login/?next=")
    login = client.post("/login/", {"username": user.email, "password": DEFAULT_PASSWORD, "next": authorize_url()})
    assert login.status_code == 302 and login["Location"] == authorize_url()

    page = client.get(authorize_url())
    assert page.status_code == 200
    html = page.content.decode()
    assert "Authorize WooCommerce" in html and "shop.example" in html and 'name="storeId"' in html
    assert "Coffee (Owner)" in html and "Tea (Owner)" in html
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]

    with caplog.at_level(logging.DEBUG):
        done = client.post(authorize_url(), {"storeId": store.pk, "command": "authorize"})
    assert done.status_code == 200
    assert "no-store" in done["Cache-Control"]
    assert "form-action https://shop.example" in done["Content-Security-Policy"]
    action, fields = posted_form(done)
    assert action == CALLBACK
    secret = dict(fields)["apiKey"]
    assert dict(fields)["userId"] == str(user.pk)
    permissions = [v for n, v in fields if n == "permissions[]"]
    assert permissions == [f"{p}:{store.pk}" for p in WOOCOMMERCE_PERMISSIONS]
    assert woocommerce_accepts(permissions)
    assert secret not in caplog.text
    # the key works, for that store only, with exactly those permissions
    key = APIKey.objects.get()
    assert (key.user, key.label, key.permissions) == (user, "WooCommerce", permissions)
    stores = api_client.get("/api/v1/stores", **token_header(secret)).json()
    assert [s["id"] for s in stores] == [store.pk]
    current = api_client.get("/api/v1/api-keys/current", **token_header(secret)).json()
    assert current["permissions"] == permissions


def test_store_members_who_are_not_staff_can_sign_in(owner):
    user, store = owner
    employee = UserFactory(is_staff=False)
    add_member(store=store, user=employee, role="Employee")
    page = signed_in(employee).get(authorize_url(permissions=["btcpay.store.cancreateinvoice"]))
    assert page.status_code == 200 and "Coffee (Employee)" in page.content.decode()


def test_the_form_is_csrf_protected(owner):
    user, store = owner
    client = Client(enforce_csrf_checks=True)
    client.post("/login/", {"username": user.email, "password": DEFAULT_PASSWORD})
    assert client.post(authorize_url(), {"storeId": store.pk, "command": "authorize"}).status_code == 403
    assert not APIKey.objects.exists()


@pytest.mark.parametrize("redirect", ["javascript:alert(1)", "/relative/path", "ftp://shop.example/x", "https://"])
def test_a_redirect_that_is_not_an_absolute_http_url_is_refused(owner, redirect):
    user, store = owner
    client = signed_in(user)
    assert client.get(authorize_url(redirect=redirect)).status_code == 400
    assert client.post(authorize_url(redirect=redirect), {"storeId": store.pk, "command": "authorize"}).status_code == 400
    assert not APIKey.objects.exists()


def test_never_more_than_the_user_has(owner):
    user, store = owner
    guest = UserFactory()
    add_member(store=store, user=guest, role="Guest")
    client = signed_in(guest)
    # a guest may not view the store settings: no key for them on that store
    refused = client.post(authorize_url(), {"storeId": store.pk, "command": "authorize"})
    assert refused.status_code == 403 and "canviewstoresettings" in refused.content.decode()
    # a store the user is not a member of
    other = StoreFactory()
    assert client.post(authorize_url(), {"storeId": other.pk, "command": "authorize"}).status_code == 400
    # server permissions need a server administrator
    server = authorize_url(permissions=["btcpay.server.canmodifyserversettings"], selectiveStores="false")
    page = client.get(server)
    assert 'class="primary" disabled' in page.content.decode()
    assert client.post(server, {"command": "authorize"}).status_code == 403
    assert not APIKey.objects.exists()


def test_not_strict_lets_the_user_leave_permissions_out_but_never_add_one(owner):
    user, store = owner
    client = signed_in(user)
    url = authorize_url(strict="false", selectiveStores="false", redirect=None)
    page = client.get(url)
    assert page.content.decode().count('name="grant"') == len(WOOCOMMERCE_PERMISSIONS)
    added = client.post(url, {"grant": ["btcpay.store.canviewinvoices", "btcpay.store.canmodifystoresettings"], "command": "authorize"})
    assert added.status_code == 400 and not APIKey.objects.exists()
    done = client.post(url, {"grant": ["btcpay.store.canviewinvoices"], "command": "authorize"})
    assert done.status_code == 200
    secret = re.search(r'<code id="api-key">([0-9a-f]+)</code>', done.content.decode()).group(1)
    key = APIKey.objects.get()
    assert key.permissions == ["btcpay.store.canviewinvoices"]  # on every store of the user
    assert Client().get("/api/v1/api-keys/current", HTTP_AUTHORIZATION=f"token {secret}").status_code == 200


def test_strict_means_all_or_nothing_and_cancel_makes_nothing(owner):
    user, store = owner
    client = signed_in(user)
    url = authorize_url(redirect=None, selectiveStores="false")
    fewer = client.post(url, {"grant": ["btcpay.store.canviewinvoices"], "command": "authorize"})
    assert fewer.status_code == 200 and APIKey.objects.get().permissions == WOOCOMMERCE_PERMISSIONS  # grant ignored
    APIKey.objects.all().delete()
    cancelled = client.post(authorize_url(), {"storeId": store.pk, "command": "cancel"})
    assert cancelled.status_code == 200 and "No key was made" in cancelled.content.decode()
    assert not APIKey.objects.exists()


def test_unknown_permissions_are_left_out_as_in_btcpay(owner):
    user, store = owner
    client = signed_in(user)
    url = authorize_url(permissions=["btcpay.store.canviewinvoices", "btcpay.store.cantimetravel"], redirect=None, selectiveStores="false")
    assert "btcpay.store.cantimetravel" in client.get(url).content.decode()
    client.post(url, {"command": "authorize"})
    assert APIKey.objects.get().permissions == ["btcpay.store.canviewinvoices"]


def test_sign_in_attempts_are_limited_per_address():
    user = UserFactory()
    client = Client()
    for _ in range(10):
        assert client.post("/login/", {"username": user.email, "password": "wrong"}).status_code == 200
    response = client.post("/login/", {"username": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 200 and "Too many attempts" in response.content.decode()
