"""Greenfield webhook API: store webhooks CRUD, deliveries, their requests and redelivery.

Paths as in BTCPay 2.4's swagger (``/api/v1/stores/{storeId}/webhooks`` and the flat
``/api/v1/webhooks/{webhookId}...``); the older store-scoped ``/api/v1/stores/{storeId}/webhooks/
{webhookId}...`` paths are served by the same views for integrations written against them.
Every operation needs ``btcpay.store.webhooks.canmodifywebhooks`` on the webhook's store.
"""
from __future__ import annotations

import json

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from flashpay.accounts import policies
from flashpay.accounts.permissions import (
    GreenfieldPermission,
    greenfield_permission,
    has_permission,
)
from flashpay.accounts.selectors import store_get
from flashpay.errors import NotFound
from flashpay.idempotency.apis import idempotent
from invoices.webhooks import selectors, services
from invoices.webhooks.models import Webhook, WebhookDelivery
from invoices.webhooks.validators import WEBHOOK_EVENT_TYPES, validate_webhook_url

TAGS = ["Webhooks"]
ERROR = inline_serializer(
    "WebhookProblemDetails", {"code": serializers.CharField(), "message": serializers.CharField()}
)
VALIDATION_ERROR = inline_serializer(
    "WebhookValidationProblemDetails",
    {"path": serializers.CharField(), "message": serializers.CharField()},
    many=True,
)
POLICY = policies.CAN_MODIFY_WEBHOOKS


class AuthorizedEventsSerializer(serializers.Serializer):
    everything = serializers.BooleanField(required=False, default=True)
    specificEvents = serializers.ListField(
        child=serializers.ChoiceField(choices=WEBHOOK_EVENT_TYPES), required=False, default=list
    )

    class Meta:
        ref_name = "WebhookAuthorizedEvents"


class WebhookInputSerializer(serializers.Serializer):
    """Greenfield ``WebhookDataCreate`` / ``WebhookDataUpdate`` (PUT replaces every field)."""

    enabled = serializers.BooleanField(required=False, default=True)
    automaticRedelivery = serializers.BooleanField(required=False, default=True)
    url = serializers.CharField(max_length=2000, validators=[validate_webhook_url])
    authorizedEvents = AuthorizedEventsSerializer(required=False, allow_null=True, default=None)
    secret = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=200, default=None
    )

    class Meta:
        ref_name = "WebhookDataCreate"

    def to_service_kwargs(self) -> dict:
        data = self.validated_data
        events = data.get("authorizedEvents") or {"everything": True, "specificEvents": []}
        return {
            "url": data["url"],
            "enabled": data["enabled"],
            "automatic_redelivery": data["automaticRedelivery"],
            "everything": events.get("everything", True),
            "specific_events": events.get("specificEvents", []),
            "secret": data.get("secret") or None,
        }


class WebhookOutputSerializer(serializers.Serializer):
    """Greenfield ``WebhookData``: never the secret."""

    id = serializers.CharField()
    enabled = serializers.BooleanField()
    automaticRedelivery = serializers.BooleanField(source="automatic_redelivery")
    url = serializers.CharField()
    authorizedEvents = serializers.SerializerMethodField()

    class Meta:
        ref_name = "WebhookData"

    def get_authorizedEvents(self, webhook: Webhook) -> dict:  # noqa: N802 (Greenfield's name)
        return {"everything": webhook.everything, "specificEvents": list(webhook.specific_events)}


class WebhookCreateResultSerializer(WebhookOutputSerializer):
    """Greenfield ``WebhookDataCreateResult``: the one response that carries the secret."""

    secret = serializers.CharField()

    class Meta:
        ref_name = "WebhookDataCreateResult"


class WebhookDeliveryOutputSerializer(serializers.Serializer):
    """Greenfield ``WebhookDeliveryData``; ``status`` is null until the first attempt."""

    id = serializers.CharField()
    timestamp = serializers.SerializerMethodField()
    deliveryTime = serializers.SerializerMethodField()
    httpCode = serializers.IntegerField(source="http_code", allow_null=True)
    errorMessage = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    # Not in Greenfield: whether an automatic retry is still to come.
    pendingRetry = serializers.SerializerMethodField()

    class Meta:
        ref_name = "WebhookDeliveryData"

    def get_timestamp(self, d: WebhookDelivery) -> int:
        return int(d.created_at.timestamp())

    def get_deliveryTime(self, d: WebhookDelivery) -> int | None:  # noqa: N802
        return int(d.last_attempt_at.timestamp()) if d.last_attempt_at else None

    def get_errorMessage(self, d: WebhookDelivery) -> str | None:  # noqa: N802
        return d.last_error or None

    def get_status(self, d: WebhookDelivery) -> str | None:
        return d.status or None

    def get_pendingRetry(self, d: WebhookDelivery) -> bool:  # noqa: N802
        return d.state == WebhookDelivery.State.PENDING and d.attempts > 0


def _webhook(request, webhookId: str, storeId: str | None = None) -> Webhook:  # noqa: N803
    """The webhook of the URL if the caller may modify its store's webhooks, else 404.

    A webhook of a store the caller has no rights on answers like a missing one, so webhook ids
    of other merchants cannot be probed.
    """
    webhook = selectors.webhook_get(
        webhook_id=webhookId, store_ids=None if storeId is None else {storeId}
    )
    if not has_permission(request=request, policy=POLICY, store_id=webhook.store_id):
        raise NotFound("The webhook has not been found", code="webhook-not-found")
    return webhook


class WebhookListApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Webhooks_GetWebhooks", tags=TAGS,
        responses={200: WebhookOutputSerializer(many=True), 401: ERROR, 403: ERROR},
    )
    @greenfield_permission(POLICY)
    def get(self, request, storeId: str):  # noqa: N803
        return Response(WebhookOutputSerializer(selectors.webhook_list(store_id=storeId), many=True).data)


class WebhookCreateApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Webhooks_CreateWebhook", tags=TAGS, request=WebhookInputSerializer,
        responses={200: WebhookCreateResultSerializer, 400: VALIDATION_ERROR, 401: ERROR, 403: ERROR},
    )
    @greenfield_permission(POLICY)
    @idempotent
    def post(self, request, storeId: str):  # noqa: N803
        serializer = WebhookInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook, secret = services.webhook_create(
            store=store_get(store_id=storeId), **serializer.to_service_kwargs()
        )
        data = WebhookOutputSerializer(webhook).data
        data["secret"] = secret
        return Response(data)


class StoreWebhooksApi(WebhookListApi, WebhookCreateApi):
    pass


class WebhookGetApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Webhooks_GetWebhook", tags=TAGS,
        responses={200: WebhookOutputSerializer, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(POLICY)
    def get(self, request, webhookId: str, storeId: str | None = None):  # noqa: N803
        return Response(WebhookOutputSerializer(_webhook(request, webhookId, storeId)).data)


class WebhookUpdateApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Webhooks_UpdateWebhook", tags=TAGS, request=WebhookInputSerializer,
        responses={200: WebhookOutputSerializer, 400: VALIDATION_ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(POLICY)
    def put(self, request, webhookId: str, storeId: str | None = None):  # noqa: N803
        webhook = _webhook(request, webhookId, storeId)
        serializer = WebhookInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook = services.webhook_update(webhook=webhook, **serializer.to_service_kwargs())
        return Response(WebhookOutputSerializer(webhook).data)


class WebhookDeleteApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Webhooks_DeleteWebhook", tags=TAGS,
        responses={200: OpenApiResponse(description="The webhook has been deleted"), 401: ERROR, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(POLICY)
    def delete(self, request, webhookId: str, storeId: str | None = None):  # noqa: N803
        services.webhook_delete(webhook=_webhook(request, webhookId, storeId))
        return Response(status=200)


class WebhookDetailApi(WebhookGetApi, WebhookUpdateApi, WebhookDeleteApi):
    pass


class WebhookDeliveryListApi(APIView):
    permission_classes = [GreenfieldPermission]

    class FilterSerializer(serializers.Serializer):
        count = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=50)

    @extend_schema(
        operation_id="Webhooks_GetWebhookDeliveries", tags=TAGS,
        parameters=[OpenApiParameter("count", str, description="The number of latest deliveries to fetch")],
        responses={200: WebhookDeliveryOutputSerializer(many=True), 400: VALIDATION_ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(POLICY)
    def get(self, request, webhookId: str, storeId: str | None = None):  # noqa: N803
        webhook = _webhook(request, webhookId, storeId)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        deliveries = selectors.webhook_delivery_list(webhook=webhook, count=filters.validated_data["count"])
        return Response(WebhookDeliveryOutputSerializer(deliveries, many=True).data)


class WebhookDeliveryGetApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Webhooks_GetWebhookDelivery", tags=TAGS,
        responses={200: WebhookDeliveryOutputSerializer, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(POLICY)
    def get(self, request, webhookId: str, deliveryId: str, storeId: str | None = None):  # noqa: N803
        webhook = _webhook(request, webhookId, storeId)
        delivery = selectors.webhook_delivery_get(webhook=webhook, delivery_id=deliveryId)
        return Response(WebhookDeliveryOutputSerializer(delivery).data)


class WebhookDeliveryRequestApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Webhooks_GetWebhookDeliveryRequests", tags=TAGS,
        responses={200: OpenApiResponse(description="The delivery's JSON request"), 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    @greenfield_permission(POLICY)
    def get(self, request, webhookId: str, deliveryId: str, storeId: str | None = None):  # noqa: N803
        webhook = _webhook(request, webhookId, storeId)
        delivery = selectors.webhook_delivery_get(webhook=webhook, delivery_id=deliveryId)
        if delivery.request_body is None:
            return Response(
                {"code": "webhookdelivery-pruned", "message": "This webhook delivery has been pruned."},
                status=409,
            )
        return Response(json.loads(delivery.request_body))


class WebhookDeliveryRedeliverApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Webhooks_RedeliverWebhookDelivery", tags=TAGS, request=None,
        responses={200: OpenApiResponse(response=str, description="The new delivery id"), 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    @greenfield_permission(POLICY)
    @idempotent
    def post(self, request, webhookId: str, deliveryId: str, storeId: str | None = None):  # noqa: N803
        webhook = _webhook(request, webhookId, storeId)
        delivery = selectors.webhook_delivery_get(webhook=webhook, delivery_id=deliveryId)
        redelivery = services.webhook_delivery_redeliver(delivery=delivery)
        return Response(redelivery.pk)
