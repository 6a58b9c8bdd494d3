"""Greenfield store payment methods: list, get, update (PUT), delete, and the on-chain address preview."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
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
from flashpay.errors import FieldError
from flashpay.payment_method_ids import PaymentMethodId, payment_method_id_parse
from invoices import selectors
from invoices.apis.shapes import (
    EMPTY_OK,
    ERROR,
    VALIDATION_ERROR,
    GenericPaymentMethodDataSerializer,
    PreviewResultSerializer,
)
from invoices.onchain.descriptors import DescriptorError, derive_address, parse_store_wallet
from invoices.services import store_payment_methods as services

MAX_PREVIEW = 1000
STORE_ID = OpenApiParameter("storeId", OpenApiTypes.STR, OpenApiParameter.PATH, description="The store id")
METHOD_ID = OpenApiParameter(
    "paymentMethodId", OpenApiTypes.STR, OpenApiParameter.PATH, description="BTC-CHAIN, BTC-LN or BTC-LNURL (BTCPay's other spellings, like BTC_LN or BTC-OnChain, are accepted)"
)
INCLUDE_CONFIG = OpenApiParameter(
    "includeConfig", OpenApiTypes.BOOL, description="Include the config (needs canmodifystoresettings)"
)


def _include_config(request, store_id: str) -> bool:
    # As BTCPay: the config is shown only to those who may change it; secrets are never shown.
    raw = (request.query_params.get("includeConfig") or "").lower()
    if raw not in ("", "true", "false", "1", "0"):
        raise FieldError("includeConfig", "Must be true or false")
    return raw in ("true", "1") and has_permission(
        request=request, policy=policies.CAN_MODIFY_STORE_SETTINGS, store_id=store_id
    )


class StorePaymentMethodListApi(APIView):
    permission_classes = [GreenfieldPermission]
    OutputSerializer = GenericPaymentMethodDataSerializer

    @extend_schema(
        operation_id="StorePaymentMethods_GetStorePaymentMethods",
        tags=["Store Payment Methods"],
        parameters=[
            STORE_ID,
            OpenApiParameter("onlyEnabled", OpenApiTypes.BOOL, description="Only the enabled methods"),
            INCLUDE_CONFIG,
        ],
        responses={200: GenericPaymentMethodDataSerializer(many=True), 401: ERROR, 403: ERROR},
    )
    @greenfield_permission(policies.CAN_VIEW_STORE_SETTINGS)
    def get(self, request, storeId: str):
        only_enabled = (request.query_params.get("onlyEnabled") or "").lower() in ("true", "1")
        include = _include_config(request, storeId)
        methods = selectors.store_payment_method_list(store_id=storeId, only_enabled=only_enabled)
        data = [selectors.store_payment_method_data(m, include_config=include) for m in methods]
        return Response(self.OutputSerializer(data, many=True).data)


class StorePaymentMethodGetApi(APIView):
    permission_classes = [GreenfieldPermission]
    OutputSerializer = GenericPaymentMethodDataSerializer

    @extend_schema(
        operation_id="StorePaymentMethods_GetStorePaymentMethod",
        tags=["Store Payment Methods"],
        parameters=[STORE_ID, METHOD_ID, INCLUDE_CONFIG],
        responses={200: GenericPaymentMethodDataSerializer, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(policies.CAN_VIEW_STORE_SETTINGS)
    def get(self, request, storeId: str, paymentMethodId: str):
        method = selectors.store_payment_method_get(store_id=storeId, payment_method_id=paymentMethodId)
        data = selectors.store_payment_method_data(method, include_config=_include_config(request, storeId))
        return Response(self.OutputSerializer(data).data)


class StorePaymentMethodUpdateApi(APIView):
    permission_classes = [GreenfieldPermission]
    OutputSerializer = GenericPaymentMethodDataSerializer

    class InputSerializer(serializers.Serializer):
        enabled = serializers.BooleanField(required=False, allow_null=True)
        config = serializers.JSONField(required=False, allow_null=True)

        class Meta:
            ref_name = "UpdatePaymentMethodConfig"

    @extend_schema(
        operation_id="StorePaymentMethods_UpdateStorePaymentMethod",
        tags=["Store Payment Methods"],
        parameters=[STORE_ID, METHOD_ID],
        request=InputSerializer,
        responses={200: GenericPaymentMethodDataSerializer, 400: VALIDATION_ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(policies.CAN_MODIFY_STORE_SETTINGS)
    def put(self, request, storeId: str, paymentMethodId: str):
        if not isinstance(request.data, dict):
            raise FieldError("", "The body must be a JSON object")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        method = services.store_payment_method_update(
            store=store_get(store_id=storeId),
            payment_method_id=paymentMethodId,
            enabled=serializer.validated_data.get("enabled"),
            config=serializer.validated_data.get("config"),
        )
        return Response(self.OutputSerializer(selectors.store_payment_method_data(method, include_config=True)).data)


class StorePaymentMethodDeleteApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="StorePaymentMethods_DeleteStorePaymentMethod",
        tags=["Store Payment Methods"],
        parameters=[STORE_ID, METHOD_ID],
        responses={200: EMPTY_OK, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(policies.CAN_MODIFY_STORE_SETTINGS)
    def delete(self, request, storeId: str, paymentMethodId: str):
        services.store_payment_method_delete(store=store_get(store_id=storeId), payment_method_id=paymentMethodId)
        return Response(status=200)


class StorePaymentMethodDetailApi(StorePaymentMethodGetApi, StorePaymentMethodUpdateApi, StorePaymentMethodDeleteApi):
    pass


def _window(request) -> tuple[int, int]:
    out = []
    for name, default, top in (("offset", 0, 2**31 - 1), ("count", 10, MAX_PREVIEW)):
        raw = request.query_params.get(name)
        try:
            value = default if raw in (None, "") else int(raw)
        except ValueError:
            raise FieldError(name, "Must be a whole number") from None
        if not 0 <= value <= top:
            raise FieldError(name, f"Must be between 0 and {top}")
        out.append(value)
    return out[0], out[1]


def _preview(descriptor: str, network: str, offset: int, count: int) -> dict:
    return {
        "addresses": [
            {"keyPath": f"0/{i}", "address": derive_address(descriptor, i, network=network)}
            for i in range(offset, offset + count)
        ]
    }


def _check_chain(paymentMethodId: str) -> None:
    if payment_method_id_parse(paymentMethodId) != PaymentMethodId.BTC_CHAIN:
        raise FieldError("paymentMethodId", "Only BTC-CHAIN has addresses to preview")


PREVIEW_PARAMS = [
    STORE_ID,
    METHOD_ID,
    OpenApiParameter("offset", OpenApiTypes.INT, description="From which index to fetch the addresses"),
    OpenApiParameter("count", OpenApiTypes.INT, description="Number of addresses to preview"),
]


class OnchainPreviewGetApi(APIView):
    permission_classes = [GreenfieldPermission]
    OutputSerializer = PreviewResultSerializer

    @extend_schema(
        operation_id="StoreOnChainPaymentMethods_GetOnChainPaymentMethodPreview",
        tags=["Store Wallet (On Chain)"],
        parameters=PREVIEW_PARAMS,
        responses={200: PreviewResultSerializer, 400: VALIDATION_ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(policies.CAN_VIEW_WALLET)
    def get(self, request, storeId: str, paymentMethodId: str):
        _check_chain(paymentMethodId)
        offset, count = _window(request)
        method = selectors.store_payment_method_get(store_id=storeId, payment_method_id=paymentMethodId)
        descriptor = method.onchain_descriptor
        return Response(self.OutputSerializer(_preview(descriptor.descriptor, descriptor.network, offset, count)).data)


class OnchainPreviewPostApi(APIView):
    permission_classes = [GreenfieldPermission]
    OutputSerializer = PreviewResultSerializer

    class InputSerializer(serializers.Serializer):
        derivationScheme = serializers.CharField(max_length=2000)

        class Meta:
            ref_name = "OnChainPaymentMethodPreviewRequest"

    @extend_schema(
        operation_id="StoreOnChainPaymentMethods_POSTOnChainPaymentMethodPreview",
        tags=["Store Wallet (On Chain)"],
        parameters=PREVIEW_PARAMS,
        request=InputSerializer,
        responses={200: PreviewResultSerializer, 400: VALIDATION_ERROR, 401: ERROR, 403: ERROR},
    )
    @greenfield_permission(policies.CAN_MANAGE_WALLET_SETTINGS)
    def post(self, request, storeId: str, paymentMethodId: str):
        _check_chain(paymentMethodId)
        offset, count = _window(request)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        from django.conf import settings

        try:
            parsed = parse_store_wallet(serializer.validated_data["derivationScheme"], network=settings.BITCOIN_NETWORK)
        except DescriptorError as exc:
            raise FieldError("derivationScheme", exc.message) from None
        return Response(self.OutputSerializer(_preview(parsed.descriptor, parsed.network, offset, count)).data)


class OnchainPreviewApi(OnchainPreviewGetApi, OnchainPreviewPostApi):
    pass
