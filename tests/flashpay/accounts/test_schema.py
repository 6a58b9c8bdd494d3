"""The OpenAPI schema of the accounts endpoints generates without warnings and validates."""
import pytest
from django.urls import include, path

from tests.openapi import operation_ids, schema_without_warnings

urlpatterns = [path("", include("flashpay.accounts.urls"))]

EXPECTED = {
    ("/api/v1/api-keys", "post"): "ApiKeys_CreateApiKey",
    ("/api/v1/api-keys/current", "get"): "ApiKeys_GetCurrentApiKey",
    ("/api/v1/api-keys/current", "delete"): "ApiKeys_DeleteCurrentApiKey",
    ("/api/v1/api-keys/{apikey}", "delete"): "ApiKeys_DeleteApiKey",
    ("/api/v1/stores", "get"): "Stores_GetStores",
    ("/api/v1/stores", "post"): "Stores_CreateStore",
    ("/api/v1/stores/{storeId}", "get"): "Stores_GetStore",
    ("/api/v1/stores/{storeId}", "put"): "Stores_UpdateStore",
    ("/api/v1/stores/{storeId}", "delete"): "Stores_DeleteStore",
    ("/api/v1/stores/{storeId}/roles", "get"): "Stores_GetStoreRoles",
    ("/api/v1/stores/{storeId}/users", "get"): "Stores_GetStoreUsers",
    ("/api/v1/stores/{storeId}/users", "post"): "Stores_AddStoreUser",
    ("/api/v1/stores/{storeId}/users/{idOrEmail}", "put"): "Stores_UpdateStoreUser",
    ("/api/v1/stores/{storeId}/users/{idOrEmail}", "delete"): "Stores_RemoveStoreUser",
    ("/api/v1/users/me", "get"): "Users_GetCurrentUser",
    ("/misc/permissions", "get"): "permissionsMetadata",
}


def test_accounts_schema_has_greenfield_operations_and_no_warnings():
    schema = schema_without_warnings(urlpatterns)
    found = operation_ids(schema)
    assert found == EXPECTED
    assert {"GreenfieldToken", "BasicAuth"} <= set(schema["components"]["securitySchemes"])
    store = schema["components"]["schemas"]["StoreData"]["properties"]
    assert {"id", "name", "defaultCurrency", "invoiceExpiration", "monitoringExpiration", "speedPolicy", "paymentTolerance", "archived"} <= set(store)


@pytest.mark.django_db
def test_schema_endpoint_serves_the_store_paths(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert "/api/v1/stores/{storeId}/users/{idOrEmail}" in response.content.decode()
