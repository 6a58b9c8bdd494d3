"""Greenfield webhook routes (BTCPay 2.4's paths plus the older store-scoped ones) and the store e-mail routes."""
from django.urls import include, path

from invoices.webhooks import apis

_per_webhook = [
    ("", apis.WebhookDetailApi, "webhook"),
    ("/deliveries", apis.WebhookDeliveryListApi, "webhook-deliveries"),
    ("/deliveries/<str:deliveryId>", apis.WebhookDeliveryGetApi, "webhook-delivery"),
    ("/deliveries/<str:deliveryId>/request", apis.WebhookDeliveryRequestApi, "webhook-delivery-request"),
    ("/deliveries/<str:deliveryId>/redeliver", apis.WebhookDeliveryRedeliverApi, "webhook-delivery-redeliver"),
]

urlpatterns = [
    path("api/v1/stores/<str:storeId>/webhooks", apis.StoreWebhooksApi.as_view(), name="store-webhooks"),
    # Store e-mail settings: included here so that flashpay/urls.py needs one line for both.
    path("", include("invoices.emails.urls")),
]
for suffix, view, name in _per_webhook:
    urlpatterns += [
        path(f"api/v1/webhooks/<str:webhookId>{suffix}", view.as_view(), name=name),
        # Aliases for older integrations; left out of the OpenAPI schema (schema = None), which
        # documents each operation once, on BTCPay 2.4's path.
        path(
            f"api/v1/stores/<str:storeId>/webhooks/<str:webhookId>{suffix}",
            type(f"Store{view.__name__}", (view,), {"schema": None}).as_view(),
            name=f"store-{name}",
        ),
    ]
