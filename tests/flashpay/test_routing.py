"""Greenfield paths answer with or without a trailing slash, as BTCPay's (ASP.NET Core) routing does."""
import pytest

from tests.factories import StoreFactory, UserFactory, create_api_key, token_header

pytestmark = pytest.mark.django_db


def test_a_trailing_slash_reaches_the_same_endpoint(api_client):
    user = UserFactory()
    store = StoreFactory(owner=user)
    _, secret = create_api_key(user=user)
    headers = token_header(secret)
    for path in ("/api/v1/stores", f"/api/v1/stores/{store.pk}", f"/api/v1/stores/{store.pk}/invoices", "/api/v1/health"):
        plain = api_client.get(path, **headers)
        slashed = api_client.get(f"{path}/", **headers)
        assert (plain.status_code, slashed.status_code) == (200, 200), path
        assert slashed.json() == plain.json()
    created = api_client.post("/api/v1/stores/", {"name": "Slash"}, format="json", **headers)
    assert created.status_code == 200 and created.json()["name"] == "Slash"


def test_only_greenfield_paths_that_exist(api_client):
    _, secret = create_api_key()
    assert api_client.get("/api/v1/nothing-here/", **token_header(secret)).status_code == 404
    assert api_client.get("/api/v1/", **token_header(secret)).status_code == 404
