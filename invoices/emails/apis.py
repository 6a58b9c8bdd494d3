"""Greenfield store e-mail API: the store's SMTP settings (password never shown) and sending one e-mail.

E-mail rules themselves have no Greenfield endpoint; operators manage them in the admin.
"""
from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from flashpay.accounts import policies
from flashpay.accounts.permissions import GreenfieldPermission, greenfield_permission
from flashpay.accounts.selectors import store_get
from flashpay.idempotency.apis import idempotent
from invoices.emails import selectors, services

TAGS = ["Stores (Email)"]
POLICY = policies.CAN_MODIFY_STORE_SETTINGS
ERROR = inline_serializer(
    "EmailProblemDetails", {"code": serializers.CharField(), "message": serializers.CharField()}
)
VALIDATION_ERROR = inline_serializer(
    "EmailValidationProblemDetails",
    {"path": serializers.CharField(), "message": serializers.CharField()},
    many=True,
)


class EmailSettingsOutputSerializer(serializers.Serializer):
    """Greenfield ``GetEmailSettings``: ``passwordSet`` instead of the password."""

    # "from" is a Python keyword: declared below.
    server = serializers.CharField(allow_null=True)
    port = serializers.IntegerField(allow_null=True)
    login = serializers.CharField(allow_null=True)
    disableCertificateCheck = serializers.BooleanField()
    passwordSet = serializers.BooleanField()

    class Meta:
        ref_name = "GetEmailSettings"


EmailSettingsOutputSerializer._declared_fields["from"] = serializers.CharField(allow_null=True)


class EmailSettingsInputSerializer(serializers.Serializer):
    """Greenfield ``UpdateEmailSettings``; an empty or null password keeps the stored one."""

    server = serializers.CharField(max_length=253)
    port = serializers.IntegerField(min_value=1, max_value=65535)
    login = serializers.CharField(max_length=254, required=False, allow_blank=True, allow_null=True, default="")
    password = serializers.CharField(max_length=500, required=False, allow_blank=True, allow_null=True, default=None)
    disableCertificateCheck = serializers.BooleanField(required=False, default=False)

    class Meta:
        ref_name = "UpdateEmailSettings"


EmailSettingsInputSerializer._declared_fields["from"] = serializers.EmailField(max_length=254)


def _settings_data(config) -> dict:
    if config is None:
        return {"from": None, "server": None, "port": None, "login": None,
                "disableCertificateCheck": False, "passwordSet": False}
    return {
        "from": config.from_email, "server": config.server, "port": config.port,
        "login": config.login or None, "disableCertificateCheck": config.disable_certificate_check,
        "passwordSet": bool(config.password_sealed),
    }


class StoreEmailSettingsGetApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Stores_GetStoreEmailSettings", tags=TAGS,
        responses={200: EmailSettingsOutputSerializer, 401: ERROR, 403: ERROR},
    )
    @greenfield_permission(POLICY)
    def get(self, request, storeId: str):  # noqa: N803
        return Response(_settings_data(selectors.store_email_settings_get(store_id=storeId)))


class StoreEmailSettingsUpdateApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Stores_UpdateStoreEmailSettings", tags=TAGS, request=EmailSettingsInputSerializer,
        responses={200: EmailSettingsOutputSerializer, 400: VALIDATION_ERROR, 401: ERROR, 403: ERROR},
    )
    @greenfield_permission(POLICY)
    def put(self, request, storeId: str):  # noqa: N803
        serializer = EmailSettingsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        config = services.store_email_settings_update(
            store=store_get(store_id=storeId), from_email=data["from"], server=data["server"],
            port=data["port"], login=data.get("login") or "", password=data.get("password") or None,
            disable_certificate_check=data["disableCertificateCheck"],
        )
        return Response(_settings_data(config))


class StoreEmailSettingsApi(StoreEmailSettingsGetApi, StoreEmailSettingsUpdateApi):
    pass


class StoreEmailSendApi(APIView):
    permission_classes = [GreenfieldPermission]

    class InputSerializer(serializers.Serializer):
        email = serializers.CharField(max_length=254)
        subject = serializers.CharField(max_length=1000)
        body = serializers.CharField(max_length=100_000, allow_blank=True)

        class Meta:
            ref_name = "SendStoreEmail"

    @extend_schema(
        operation_id="Stores_SendStoreEmail", tags=TAGS, request=InputSerializer,
        responses={200: OpenApiResponse(description="The email was sent (scheduled)"), 400: VALIDATION_ERROR, 401: ERROR, 403: ERROR},
    )
    @greenfield_permission(POLICY)
    @idempotent
    def post(self, request, storeId: str):  # noqa: N803
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.store_email_send(
            store=store_get(store_id=storeId), to=serializer.validated_data["email"],
            subject=serializer.validated_data["subject"], body=serializer.validated_data["body"],
        )
        return Response(status=200)
