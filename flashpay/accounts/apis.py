"""Greenfield API: API keys, stores and store users (BTCPay's paths, fields and status codes)."""
from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation

from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import exceptions, serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from flashpay.accounts import policies, selectors, services
from flashpay.accounts.models import (
    DEFAULT_LIGHTNING_DESCRIPTION_TEMPLATE,
    APIKey,
    NetworkFeeMode,
    SpeedPolicy,
    Store,
    StoreRole,
)
from flashpay.accounts.permissions import (
    GreenfieldPermission,
    greenfield_permission,
    request_permission_set,
    require_permission,
)
from flashpay.errors import FieldError
from flashpay.idempotency.apis import idempotent
from flashpay.payment_method_ids import (
    PaymentMethodId,
    payment_method_id_describe,
    payment_method_id_parse,
)
from flashpay.serializers import EnumField, ReceiptOptionsSerializer

logger = logging.getLogger(__name__)

ERROR = inline_serializer(
    "ProblemDetails", {"code": serializers.CharField(), "message": serializers.CharField()}
)
VALIDATION_ERROR = inline_serializer(
    "ValidationProblemDetails",
    {"path": serializers.CharField(), "message": serializers.CharField()},
    many=True,
)
EMPTY_OK = OpenApiResponse(description="Done")


class ApiKeyDataSerializer(serializers.Serializer):
    """Greenfield ``ApiKeyData``; ``apiKey`` is the secret the caller sent or was just given."""

    apiKey = serializers.CharField()
    label = serializers.CharField()
    permissions = serializers.ListField(child=serializers.CharField())


def _api_key_data(api_key: APIKey, secret: str) -> dict:
    return {"apiKey": secret, "label": api_key.label, "permissions": api_key.permissions}


def _presented_secret(request) -> str:
    # APIKeyAuthentication already validated the header's shape.
    return request.headers["Authorization"].split()[1]


class _ApiKeyOnly(BasePermission):
    """These endpoints act on the key used to call them, so they need token authentication."""

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, APIKey):
            if request.user and request.user.is_authenticated:
                raise exceptions.NotAuthenticated("This endpoint needs API key authentication")
            return False
        return True


class ApiKeyCurrentGetApi(APIView):
    permission_classes = [_ApiKeyOnly]

    @extend_schema(
        operation_id="ApiKeys_GetCurrentApiKey",
        tags=["API Keys"],
        responses={200: ApiKeyDataSerializer, 401: ERROR},
    )
    def get(self, request):
        return Response(ApiKeyDataSerializer(_api_key_data(request.auth, _presented_secret(request))).data)


class ApiKeyCurrentDeleteApi(APIView):
    permission_classes = [_ApiKeyOnly]

    @extend_schema(
        operation_id="ApiKeys_DeleteCurrentApiKey",
        tags=["API Keys"],
        responses={200: ApiKeyDataSerializer, 401: ERROR},
    )
    def delete(self, request):
        data = _api_key_data(request.auth, _presented_secret(request))
        services.api_key_delete(api_key=request.auth)
        return Response(ApiKeyDataSerializer(data).data)


class ApiKeyCurrentApi(ApiKeyCurrentGetApi, ApiKeyCurrentDeleteApi):
    pass


class ApiKeyCreateApi(APIView):
    permission_classes = [GreenfieldPermission]

    class InputSerializer(serializers.Serializer):
        label = serializers.CharField(max_length=200, required=False, allow_null=True, allow_blank=True)
        permissions = serializers.ListField(
            child=serializers.CharField(), required=False, allow_null=True
        )

        class Meta:
            ref_name = "CreateApiKey"

    @extend_schema(
        operation_id="ApiKeys_CreateApiKey",
        tags=["API Keys"],
        request=InputSerializer,
        responses={200: ApiKeyDataSerializer, 400: VALIDATION_ERROR, 401: ERROR, 403: ERROR},
    )
    @greenfield_permission(policies.UNRESTRICTED)
    @idempotent
    def post(self, request):
        serializer = ApiKeyCreateApi.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key, secret = services.api_key_create(
            user=request.user,
            label=serializer.validated_data.get("label") or "",
            permissions=serializer.validated_data.get("permissions") or [],
        )
        return Response(ApiKeyDataSerializer(_api_key_data(api_key, secret)).data)


class ApiKeyDeleteApi(APIView):
    permission_classes = [GreenfieldPermission]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Greenfield puts the secret in this path; Django's request logger would write it to the
        # log with every 4xx. Mark the response as logged and log a redacted line instead.
        if response.status_code >= 400:
            logger.warning("%s /api/v1/api-keys/<redacted>: %s", request.method, response.status_code)
        response._has_been_logged = True
        return response

    @extend_schema(
        operation_id="ApiKeys_DeleteApiKey",
        tags=["API Keys"],
        responses={200: EMPTY_OK, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(policies.UNRESTRICTED)
    def delete(self, request, apikey: str):
        api_key = selectors.api_key_get_by_secret(secret=apikey)
        if api_key is None or api_key.user_id != request.user.pk:
            raise exceptions.NotFound("The API key was not found for this user")
        services.api_key_delete(api_key=api_key)
        return Response(status=200)


class NullableText(serializers.CharField):
    """Greenfield sends and shows a missing text as null; the model keeps Django's empty string."""

    def __init__(self, **kwargs):
        super().__init__(required=False, allow_null=True, allow_blank=True, **kwargs)

    def run_validation(self, data=serializers.empty):
        if data is serializers.empty and getattr(self.root, "partial", False):
            raise serializers.SkipField()  # left out of a merge (PUT): keep the stored value
        if data is None or data is serializers.empty:
            return ""
        return super().run_validation(data)

    def to_representation(self, value):
        return value or None


class NullableUrl(NullableText, serializers.URLField):
    pass


class UrlOrEmpty(NullableUrl):
    """A URL BTCPay shows as null when unset, but which the official PHP client reads as a string
    (``Store::getWebsite(): string`` throws on null): shown as "" instead."""

    def to_representation(self, value):
        return value or ""


class TextOrEmpty(NullableText):
    """As ``UrlOrEmpty``, for text (``Store::getHtmlTitle(): string``)."""

    def to_representation(self, value):
        return value or ""


class TextWithDefault(NullableText):
    """Text with BTCPay's default: null or empty in a request means the default, which is shown."""

    def __init__(self, *, shown_default: str, **kwargs):
        self.shown_default = shown_default
        super().__init__(**kwargs)

    def to_representation(self, value):
        return value or self.shown_default


class NullableHexColor(NullableText, serializers.RegexField):
    def __init__(self, **kwargs):
        super().__init__(regex=r"^#[0-9A-Fa-f]{3}([0-9A-Fa-f]{3})?$", **kwargs)


def _payment_method_id(value) -> str:
    method_id = payment_method_id_parse(value)
    if method_id is None:
        raise serializers.ValidationError(
            f"Unknown payment method {str(value)[:40]!r}: use {payment_method_id_describe()}"
        )
    return method_id.value


@extend_schema_field({"type": "string", "example": "BTC-CHAIN"})
class DefaultPaymentMethodField(NullableText):
    """Any spelling BTCPay accepts (BTC, BTC_LN, BTC-LightningNetwork...); stored and shown canonical.

    Unset, it shows BTC-CHAIN, the method BTCPay's checkout settings pick first (and save as the
    store's default once the merchant saves them); BTCPay's API shows null until then, which the
    official PHP client (``Store::getDefaultPaymentMethod(): string``) cannot read.
    """

    def run_validation(self, data=serializers.empty):
        value = super().run_validation(data)
        return _payment_method_id(value) if value else ""

    def to_representation(self, value):
        return value or PaymentMethodId.BTC_CHAIN.value


@extend_schema_field(ReceiptOptionsSerializer)
class StoreReceiptField(serializers.Field):
    """Stored as the merchant set it; shown with every option resolved, as BTCPay shows it."""

    def __init__(self, **kwargs):
        super().__init__(required=False, allow_null=True, **kwargs)

    def get_default(self):
        return None

    def to_internal_value(self, data):
        options = ReceiptOptionsSerializer(data=data)
        options.is_valid(raise_exception=True)
        return dict(options.validated_data)

    def to_representation(self, value):
        return selectors.receipt_options(value)


class GreenfieldNumberField(serializers.DecimalField):
    """A decimal shown as a JSON number: whole values as integers (``0``, not ``0.0``), since the
    official PHP client reads ``Store::getPaymentTolerance(): int`` under strict types."""

    def to_representation(self, value):
        value = super().to_representation(value)
        return int(value) if value == value.to_integral_value() else float(value)


class PaymentMethodCriteriaSerializer(serializers.Serializer):
    """Greenfield ``PaymentMethodCriteriaData``: a method offered only above (or below) an amount."""

    paymentMethodId = serializers.CharField(max_length=100)
    currencyCode = serializers.RegexField(r"^[A-Za-z]{3,10}$", max_length=10)
    amount = serializers.CharField(max_length=40)
    above = serializers.BooleanField(required=False, default=False)

    class Meta:
        ref_name = "PaymentMethodCriteriaData"

    def validate_paymentMethodId(self, value: str) -> str:
        return _payment_method_id(value)

    def validate_currencyCode(self, value: str) -> str:
        return value.upper()

    def validate_amount(self, value: str) -> str:
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise serializers.ValidationError('Must be a decimal number, e.g. "10.00"') from None
        if not amount.is_finite() or amount < 0 or amount >= Decimal("1e18"):
            raise serializers.ValidationError("Must be a number of 0 or more")
        return str(amount)


@extend_schema_field(PaymentMethodCriteriaSerializer(many=True))
class PaymentMethodCriteriaField(serializers.Field):
    """A list of criteria; BTCPay always shows a list (empty when there are none), never null."""

    def __init__(self, **kwargs):
        super().__init__(required=False, allow_null=True, **kwargs)

    def get_default(self):
        return []

    def validate_empty_values(self, data):
        if data is None:
            return True, []
        return super().validate_empty_values(data)  # left out: [] on create, kept on a merge

    def to_internal_value(self, data):
        items = PaymentMethodCriteriaSerializer(data=data, many=True)
        items.is_valid(raise_exception=True)
        return [dict(item) for item in items.validated_data]

    def to_representation(self, value):
        return [
            {
                "paymentMethodId": item["paymentMethodId"],
                "currencyCode": item["currencyCode"],
                "amount": item["amount"],
                "above": bool(item.get("above")),
            }
            for item in (value if isinstance(value, list) else [])
            if isinstance(item, dict) and {"paymentMethodId", "currencyCode", "amount"} <= item.keys()
        ]


class StoreSettingsSerializer(serializers.Serializer):
    """Greenfield ``StoreBaseData`` (camelCase) onto Store fields (``source``).

    As in BTCPay 2.x (``MergeStoreRequestWithTemplate``, since 2.1.2), a request is merged into
    the store (PUT) or into the defaults (POST): a field left out or sent as null keeps its value.
    Fields BTCPay never shows as null are never null here either (see the field classes).
    """

    name = serializers.CharField(max_length=200)
    website = UrlOrEmpty(max_length=500)
    supportUrl = NullableText(source="support_url", max_length=500)
    logoUrl = NullableText(source="logo_url", max_length=500)
    cssUrl = NullableText(source="css_url", max_length=500)
    paymentSoundUrl = NullableText(source="payment_sound_url", max_length=500)
    brandColor = NullableHexColor(source="brand_color")
    applyBrandColorToBackend = serializers.BooleanField(
        source="apply_brand_color_to_backend", required=False, default=False
    )
    defaultCurrency = serializers.RegexField(
        r"^[A-Za-z]{3,10}$", source="default_currency", required=False, default="USD"
    )
    additionalTrackedRates = serializers.ListField(
        child=serializers.RegexField(r"^[A-Za-z]{3,10}$"),
        source="additional_tracked_rates",
        required=False,
        default=list,
    )
    invoiceExpiration = serializers.IntegerField(
        source="invoice_expiration", min_value=60, max_value=2073600, required=False, default=900
    )
    refundBOLT11Expiration = serializers.IntegerField(
        source="refund_bolt11_expiration", min_value=0, max_value=3650, required=False, default=30
    )
    displayExpirationTimer = serializers.IntegerField(
        source="display_expiration_timer", min_value=60, max_value=2073600, required=False, default=300
    )
    monitoringExpiration = serializers.IntegerField(
        source="monitoring_expiration", min_value=600, max_value=2073600, required=False, default=86400
    )
    speedPolicy = EnumField(
        SpeedPolicy.choices, source="speed_policy", required=False, default=SpeedPolicy.MEDIUM
    )
    lightningDescriptionTemplate = TextWithDefault(
        source="lightning_description_template", max_length=500, shown_default=DEFAULT_LIGHTNING_DESCRIPTION_TEMPLATE
    )
    paymentTolerance = GreenfieldNumberField(
        source="payment_tolerance",
        max_digits=5,
        decimal_places=2,
        min_value=0,
        max_value=100,
        coerce_to_string=False,
        required=False,
        default=0,
    )
    archived = serializers.BooleanField(required=False, default=False)
    anyoneCanCreateInvoice = serializers.BooleanField(
        source="anyone_can_create_invoice", required=False, default=False
    )
    receipt = StoreReceiptField()
    lightningAmountInSatoshi = serializers.BooleanField(
        source="lightning_amount_in_satoshi", required=False, default=False
    )
    lightningPrivateRouteHints = serializers.BooleanField(
        source="lightning_private_route_hints", required=False, default=False
    )
    onChainWithLnInvoiceFallback = serializers.BooleanField(
        source="on_chain_with_ln_invoice_fallback", required=False, default=False
    )
    redirectAutomatically = serializers.BooleanField(
        source="redirect_automatically", required=False, default=False
    )
    showRecommendedFee = serializers.BooleanField(
        source="show_recommended_fee", required=False, default=True
    )
    recommendedFeeBlockTarget = serializers.IntegerField(
        source="recommended_fee_block_target", min_value=1, max_value=1008, required=False, default=1
    )
    defaultLang = serializers.CharField(source="default_lang", max_length=20, required=False, default="en")
    htmlTitle = TextOrEmpty(source="html_title", max_length=200)
    networkFeeMode = EnumField(
        NetworkFeeMode.choices,
        source="network_fee_mode",
        required=False,
        default=NetworkFeeMode.MULTIPLE_PAYMENTS_ONLY,
    )
    payJoinEnabled = serializers.BooleanField(source="payjoin_enabled", required=False, default=False)
    autoDetectLanguage = serializers.BooleanField(
        source="auto_detect_language", required=False, default=False
    )
    showPayInWalletButton = serializers.BooleanField(
        source="show_pay_in_wallet_button", required=False, default=True
    )
    showStoreHeader = serializers.BooleanField(source="show_store_header", required=False, default=True)
    celebratePayment = serializers.BooleanField(source="celebrate_payment", required=False, default=True)
    playSoundOnPayment = serializers.BooleanField(
        source="play_sound_on_payment", required=False, default=False
    )
    lazyPaymentMethods = serializers.BooleanField(
        source="lazy_payment_methods", required=False, default=False
    )
    defaultPaymentMethod = DefaultPaymentMethodField(source="default_payment_method", max_length=100)
    paymentMethodCriteria = PaymentMethodCriteriaField(source="payment_method_criteria")


    class Meta:
        ref_name = "StoreBaseData"

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # DRF shows a null attribute as null without asking the field; these two never are
        data["receipt"] = selectors.receipt_options(instance.receipt)
        data["paymentMethodCriteria"] = self.fields["paymentMethodCriteria"].to_representation(
            instance.payment_method_criteria
        )
        return data


class StoreDataSerializer(StoreSettingsSerializer):
    id = serializers.CharField()

    class Meta:
        ref_name = "StoreData"


def _store_input(request, *, partial: bool) -> tuple[str | None, dict]:
    """(name, settings) from the body; null fields are left out, as BTCPay's merge ignores them."""
    if not isinstance(request.data, dict):
        raise FieldError("", "The body must be a JSON object")
    data = {key: value for key, value in request.data.items() if value is not None}
    serializer = StoreSettingsSerializer(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    settings = dict(serializer.validated_data)
    return settings.pop("name", None), settings


def _store_data(store: Store) -> dict:
    return StoreDataSerializer(store).data


class StoreListApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Stores_GetStores",
        tags=["Stores"],
        responses={200: StoreDataSerializer(many=True), 401: ERROR},
    )
    @greenfield_permission(policies.CAN_VIEW_STORE_SETTINGS)
    def get(self, request):
        stores = selectors.store_list_for_principal(
            user=request.user,
            permission_set=request_permission_set(request),
            policy=policies.CAN_VIEW_STORE_SETTINGS,
        )
        return Response(StoreDataSerializer(stores, many=True).data)


class StoreCreateApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Stores_CreateStore",
        tags=["Stores"],
        request=StoreSettingsSerializer,
        responses={200: StoreDataSerializer, 400: VALIDATION_ERROR, 401: ERROR, 403: ERROR},
    )
    @greenfield_permission(policies.CAN_MODIFY_STORE_SETTINGS)
    @idempotent
    def post(self, request):
        # A new store has no id yet, so only an unscoped canmodifystoresettings may create one.
        require_permission(request=request, policy=policies.CAN_MODIFY_STORE_SETTINGS)
        name, settings = _store_input(request, partial=False)
        store = services.store_create(user=request.user, name=name, settings=settings)
        return Response(_store_data(store))


class StoresApi(StoreListApi, StoreCreateApi):
    pass


class StoreGetApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Stores_GetStore",
        tags=["Stores"],
        responses={200: StoreDataSerializer, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(policies.CAN_VIEW_STORE_SETTINGS)
    def get(self, request, storeId: str):
        return Response(_store_data(selectors.store_get(store_id=storeId)))


class StoreUpdateApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Stores_UpdateStore",
        tags=["Stores"],
        request=StoreSettingsSerializer,
        responses={200: StoreDataSerializer, 400: VALIDATION_ERROR, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(policies.CAN_MODIFY_STORE_SETTINGS)
    def put(self, request, storeId: str):
        store = selectors.store_get(store_id=storeId)
        name, settings = _store_input(request, partial=True)
        store = services.store_update(store=store, name=name or store.name, settings=settings)
        return Response(_store_data(store))


class StoreDeleteApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Stores_DeleteStore",
        tags=["Stores"],
        responses={200: EMPTY_OK, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    @greenfield_permission(policies.CAN_MODIFY_STORE_SETTINGS)
    def delete(self, request, storeId: str):
        services.store_delete(store=selectors.store_get(store_id=storeId))
        return Response(status=200)


class StoreDetailApi(StoreGetApi, StoreUpdateApi, StoreDeleteApi):
    pass


class RoleDataSerializer(serializers.Serializer):
    id = serializers.CharField()
    role = serializers.CharField()
    permissions = serializers.ListField(child=serializers.CharField())
    isServerRole = serializers.BooleanField()


class StoreRolesApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Stores_GetStoreRoles",
        tags=["Stores"],
        responses={200: RoleDataSerializer(many=True), 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(policies.CAN_MODIFY_STORE_SETTINGS)
    def get(self, request, storeId: str):
        roles = [
            {"id": role, "role": role, "permissions": list(perms), "isServerRole": True}
            for role, perms in policies.ROLE_PERMISSIONS.items()
        ]
        return Response(RoleDataSerializer(roles, many=True).data)


class StoreUserDataSerializer(serializers.Serializer):
    """Greenfield ``StoreUserData`` (ApplicationUserData plus the store role)."""

    id = serializers.CharField(source="user.pk")
    userId = serializers.CharField(source="user.pk")
    email = serializers.CharField(source="user.email")
    name = serializers.SerializerMethodField()
    storeRole = serializers.CharField(source="role")
    role = serializers.CharField()
    created = serializers.SerializerMethodField()
    disabled = serializers.SerializerMethodField()
    roles = serializers.SerializerMethodField()

    def get_name(self, member) -> str | None:
        return member.user.get_full_name() or None

    def get_created(self, member) -> int:
        return int(member.user.date_joined.timestamp())

    def get_disabled(self, member) -> bool:
        return not member.user.is_active

    def get_roles(self, member) -> list[str]:
        return ["ServerAdmin"] if member.user.is_superuser else []


class StoreUserListApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Stores_GetStoreUsers",
        tags=["Stores (Users)"],
        responses={200: StoreUserDataSerializer(many=True), 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(policies.CAN_MODIFY_STORE_SETTINGS)
    def get(self, request, storeId: str):
        store = selectors.store_get(store_id=storeId)
        return Response(StoreUserDataSerializer(selectors.store_member_list(store=store), many=True).data)


class StoreUserInputSerializer(serializers.Serializer):
    userId = serializers.CharField(required=False, max_length=254, help_text="User id or e-mail")
    storeRole = serializers.CharField(required=False, max_length=50)
    role = serializers.CharField(required=False, max_length=50, help_text="Deprecated: use storeRole")

    class Meta:
        ref_name = "StoreUser"

    def validate(self, attrs):
        role = attrs.get("storeRole") or attrs.get("role")
        if not role:
            raise serializers.ValidationError({"storeRole": "This field is required."})
        if role not in StoreRole.values:
            raise serializers.ValidationError(
                {"storeRole": f"Unknown role; expected one of {', '.join(StoreRole.values)}"}
            )
        attrs["storeRole"] = role
        return attrs


class StoreUserAddApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Stores_AddStoreUser",
        tags=["Stores (Users)"],
        request=StoreUserInputSerializer,
        responses={200: EMPTY_OK, 400: VALIDATION_ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    @greenfield_permission(policies.CAN_MODIFY_STORE_SETTINGS)
    def post(self, request, storeId: str):
        serializer = StoreUserInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not serializer.validated_data.get("userId"):
            raise serializers.ValidationError({"userId": "This field is required."})
        store = selectors.store_get(store_id=storeId)
        user = selectors.user_get_by_id_or_email(id_or_email=serializer.validated_data["userId"])
        services.store_member_add(store=store, user=user, role=serializer.validated_data["storeRole"])
        return Response(status=200)


class StoreUsersApi(StoreUserListApi, StoreUserAddApi):
    pass


class StoreUserUpdateApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Stores_UpdateStoreUser",
        tags=["Stores (Users)"],
        request=StoreUserInputSerializer,
        responses={200: EMPTY_OK, 400: VALIDATION_ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    @greenfield_permission(policies.CAN_MODIFY_STORE_SETTINGS)
    def put(self, request, storeId: str, idOrEmail: str):
        serializer = StoreUserInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        store = selectors.store_get(store_id=storeId)
        user = selectors.user_get_by_id_or_email(id_or_email=idOrEmail)
        services.store_member_update(store=store, user=user, role=serializer.validated_data["storeRole"])
        return Response(status=200)


class StoreUserRemoveApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Stores_RemoveStoreUser",
        tags=["Stores (Users)"],
        responses={200: EMPTY_OK, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    @greenfield_permission(policies.CAN_MODIFY_STORE_SETTINGS)
    def delete(self, request, storeId: str, idOrEmail: str):
        store = selectors.store_get(store_id=storeId)
        user = selectors.user_get_by_id_or_email(id_or_email=idOrEmail)
        services.store_member_remove(store=store, user=user)
        return Response(status=200)


class StoreUserDetailApi(StoreUserUpdateApi, StoreUserRemoveApi):
    pass



class PermissionMetadataApi(APIView):
    """BTCPay's ``GET /misc/permissions``: every policy and what it includes; any signed-in caller."""

    class OutputSerializer(serializers.Serializer):
        name = serializers.CharField()
        included = serializers.ListField(child=serializers.CharField())

        class Meta:
            ref_name = "PermissionMetadata"

    @extend_schema(
        operation_id="permissionsMetadata",
        tags=["Miscelleneous"],
        responses={200: OutputSerializer(many=True), 401: ERROR},
    )
    def get(self, request):
        return Response(self.OutputSerializer(policies.permission_metadata(), many=True).data)


class ApplicationUserDataSerializer(serializers.Serializer):
    """Greenfield ``ApplicationUserData``. FlashPay neither confirms e-mails nor approves sign-ups,
    so it requires neither, and a user counts as approved; there is no store quota per user."""

    id = serializers.CharField(source="pk")
    email = serializers.CharField()
    name = serializers.SerializerMethodField()
    imageUrl = serializers.SerializerMethodField()
    invitationUrl = serializers.SerializerMethodField()
    emailConfirmed = serializers.SerializerMethodField()
    requiresEmailConfirmation = serializers.SerializerMethodField()
    approved = serializers.SerializerMethodField()
    requiresApproval = serializers.SerializerMethodField()
    storeQuota = serializers.SerializerMethodField()
    created = serializers.SerializerMethodField()
    disabled = serializers.SerializerMethodField()
    roles = serializers.SerializerMethodField()

    class Meta:
        ref_name = "ApplicationUserData"

    def get_name(self, user) -> str | None:
        return user.get_full_name() or None

    def get_imageUrl(self, user) -> str | None:  # noqa: N802 (Greenfield's name)
        return None

    def get_invitationUrl(self, user) -> str | None:  # noqa: N802
        return None

    def get_emailConfirmed(self, user) -> bool:  # noqa: N802
        return False

    def get_requiresEmailConfirmation(self, user) -> bool:  # noqa: N802
        return False

    def get_approved(self, user) -> bool:
        return True

    def get_requiresApproval(self, user) -> bool:  # noqa: N802
        return False

    def get_storeQuota(self, user) -> int | None:  # noqa: N802
        return None

    def get_created(self, user) -> int:
        return int(user.date_joined.timestamp())

    def get_disabled(self, user) -> bool:
        return not user.is_active

    def get_roles(self, user) -> list[str]:
        return ["ServerAdmin"] if user.is_superuser else []


class UserMeApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Users_GetCurrentUser",
        tags=["Users"],
        responses={200: ApplicationUserDataSerializer, 401: ERROR, 403: ERROR},
    )
    @greenfield_permission(policies.CAN_VIEW_PROFILE)
    def get(self, request):
        return Response(ApplicationUserDataSerializer(request.user).data)
