"""The OpenAPI schema of the webhook and store e-mail endpoints: Greenfield operation ids, no warnings."""
from django.urls import include, path

from tests.openapi import operation_ids, schema_without_warnings

urlpatterns = [path("", include("invoices.webhooks.urls"))]

EXPECTED = {
    ("/api/v1/stores/{storeId}/webhooks", "get"): "Webhooks_GetWebhooks",
    ("/api/v1/stores/{storeId}/webhooks", "post"): "Webhooks_CreateWebhook",
    ("/api/v1/webhooks/{webhookId}", "get"): "Webhooks_GetWebhook",
    ("/api/v1/webhooks/{webhookId}", "put"): "Webhooks_UpdateWebhook",
    ("/api/v1/webhooks/{webhookId}", "delete"): "Webhooks_DeleteWebhook",
    ("/api/v1/webhooks/{webhookId}/deliveries", "get"): "Webhooks_GetWebhookDeliveries",
    ("/api/v1/webhooks/{webhookId}/deliveries/{deliveryId}", "get"): "Webhooks_GetWebhookDelivery",
    ("/api/v1/webhooks/{webhookId}/deliveries/{deliveryId}/request", "get"): "Webhooks_GetWebhookDeliveryRequests",
    ("/api/v1/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver", "post"): "Webhooks_RedeliverWebhookDelivery",
    ("/api/v1/stores/{storeId}/email", "get"): "Stores_GetStoreEmailSettings",
    ("/api/v1/stores/{storeId}/email", "put"): "Stores_UpdateStoreEmailSettings",
    ("/api/v1/stores/{storeId}/email/send", "post"): "Stores_SendStoreEmail",
}


def test_schema_has_greenfield_operations_and_no_warnings():
    schema = schema_without_warnings(urlpatterns)
    found = operation_ids(schema)
    assert found == EXPECTED
    webhook = schema["components"]["schemas"]["WebhookData"]["properties"]
    assert "secret" not in webhook
    assert "secret" in schema["components"]["schemas"]["WebhookDataCreateResult"]["properties"]
    assert "password" not in schema["components"]["schemas"]["GetEmailSettings"]["properties"]
    assert "from" in schema["components"]["schemas"]["GetEmailSettings"]["properties"]
