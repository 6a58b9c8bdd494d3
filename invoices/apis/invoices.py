"""Greenfield invoice endpoints: list, create, get, update metadata, archive/unarchive, payment methods, mark status.

Every invoice operation is served on the store path ``/api/v1/stores/{storeId}/invoices/{invoiceId}``
(permission checked on that store; another store's invoice is 404) and on the flat path
``/api/v1/invoices/{invoiceId}`` (permission checked on the invoice's own store).
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from flashpay.accounts import policies
from flashpay.accounts.models import SpeedPolicy
from flashpay.accounts.permissions import (
    GreenfieldPermission,
    greenfield_permission,
    require_permission,
)
from flashpay.accounts.selectors import store_get
from flashpay.errors import FieldError
from flashpay.idempotency.apis import idempotent
from flashpay.payment_method_ids import PaymentMethodId, payment_method_id_parse
from flashpay.serializers import EnumField, ReceiptOptionsSerializer, ReusedFieldsMixin
from invoices import selectors
from invoices.apis.shapes import (
    EMPTY_OK,
    ERROR,
    INVOICE_STATUS_MARKS,
    INVOICE_STATUSES,
    VALIDATION_ERROR,
    InvoiceDataSerializer,
    InvoiceDataWithMethodsSerializer,
    InvoicePaymentMethodDataSerializer,
)
from invoices.models import Invoice
from invoices.services import invoices as services
from invoices.services.remainder import invoice_lightning_prompt_activate

MAX_METADATA_BYTES = 64 * 1024
MAX_TAKE = 1000


@extend_schema_field({"type": "string", "format": "decimal", "nullable": True, "example": "5.00"})
class GreenfieldAmountField(serializers.Field):
    """A decimal amount sent as a string ("5.00") or a JSON number; null means none."""

    default_error_messages = {"invalid": "Must be a decimal number, e.g. \"5.00\""}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            self.fail("invalid")
        try:
            value = Decimal(str(data).strip())  # str() of a JSON float is its shortest exact form
        except InvalidOperation:
            self.fail("invalid")
        if not value.is_finite() or abs(value) >= Decimal("1e18"):
            self.fail("invalid")
        return value

    def to_representation(self, value):
        return str(value)


class MetadataField(serializers.JSONField):
    """Greenfield ``InvoiceMetadata``: any JSON object (not a list, string or number), bounded in size."""

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        if not isinstance(data, dict):
            raise serializers.ValidationError("Must be a JSON object, e.g. {\"orderId\": \"1234\"}")
        if len(json.dumps(data)) > MAX_METADATA_BYTES:
            raise serializers.ValidationError(f"Must be at most {MAX_METADATA_BYTES} bytes of JSON")
        order_id = data.get("orderId")
        if order_id is not None and not isinstance(order_id, str | int):
            raise serializers.ValidationError({"orderId": "Must be a string"})
        return data


class CheckoutOptionsSerializer(serializers.Serializer):
    # the store's choice set, so the schema has one SpeedPolicy enum
    speedPolicy = EnumField(choices=SpeedPolicy.choices, required=False, allow_null=True)
    paymentMethods = serializers.ListField(child=serializers.CharField(max_length=50), required=False, allow_null=True)
    defaultPaymentMethod = serializers.CharField(max_length=50, required=False, allow_null=True)
    lazyPaymentMethods = serializers.BooleanField(required=False, allow_null=True)
    expirationMinutes = serializers.IntegerField(min_value=1, max_value=2073600 // 60 * 100, required=False, allow_null=True)
    monitoringMinutes = serializers.IntegerField(min_value=0, max_value=2073600, required=False, allow_null=True)
    paymentTolerance = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=Decimal(0), max_value=Decimal(100), required=False, allow_null=True
    )
    redirectURL = serializers.URLField(max_length=2000, required=False, allow_null=True, allow_blank=True)
    redirectAutomatically = serializers.BooleanField(required=False, allow_null=True)
    defaultLanguage = serializers.CharField(max_length=20, required=False, allow_null=True)

    class Meta:
        ref_name = "CheckoutOptions"


def _not_null(data: dict) -> dict:
    return {k: v for k, v in data.items() if v is not None and v != ""}


def _actor(request) -> str:
    return f"user:{request.user.pk}"


def _invoice_for(request, *, invoice_id: str, policy: str, store_id: str | None) -> Invoice:
    """The invoice on the store path (already permission-checked) or the flat path (checked here)."""
    if store_id is not None:
        return selectors.invoice_get(invoice_id=invoice_id, store_id=store_id)
    invoice = selectors.invoice_get(invoice_id=invoice_id)
    require_permission(request=request, policy=policy, store_id=invoice.store_id)
    return invoice


def _bool_param(request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise FieldError(name, "Must be true or false")


def _render(invoice: Invoice, *, with_methods: bool = False, payments: list | None = None) -> dict:
    data = selectors.invoice_data(invoice, payments=payments)
    if with_methods:
        data["paymentMethods"] = selectors.invoice_payment_methods_data(invoice=invoice)
        return InvoiceDataWithMethodsSerializer(data).data
    return InvoiceDataSerializer(data).data


STORE_ID = OpenApiParameter("storeId", OpenApiTypes.STR, OpenApiParameter.PATH, description="The store id")
INVOICE_ID = OpenApiParameter("invoiceId", OpenApiTypes.STR, OpenApiParameter.PATH, description="The invoice id")
INCLUDE_METHODS = OpenApiParameter("includePaymentMethods", OpenApiTypes.BOOL, description="Include the payment methods")


class InvoiceListApi(APIView):
    permission_classes = [GreenfieldPermission]

    class FilterSerializer(serializers.Serializer):
        status = serializers.ListField(child=EnumField(choices=INVOICE_STATUSES), required=False)
        orderId = serializers.ListField(child=serializers.CharField(max_length=500), required=False)
        textSearch = serializers.CharField(max_length=500, required=False)
        startDate = serializers.IntegerField(min_value=0, required=False)
        endDate = serializers.IntegerField(min_value=0, required=False)
        skip = serializers.IntegerField(min_value=0, required=False, default=0)
        take = serializers.IntegerField(min_value=0, max_value=MAX_TAKE, required=False)
        includePaymentMethods = serializers.BooleanField(required=False, default=False)

    OutputSerializer = InvoiceDataWithMethodsSerializer

    @extend_schema(
        operation_id="Invoices_GetInvoices",
        tags=["Invoices"],
        parameters=[
            STORE_ID,
            OpenApiParameter("orderId", OpenApiTypes.STR, many=True, description="Order ids to fetch the invoices for"),
            OpenApiParameter("status", OpenApiTypes.STR, many=True, enum=INVOICE_STATUSES, description="Statuses to fetch"),
            OpenApiParameter("textSearch", OpenApiTypes.STR, description="A term found in the invoice"),
            OpenApiParameter("startDate", OpenApiTypes.INT, description="Unix time, created at or after"),
            OpenApiParameter("endDate", OpenApiTypes.INT, description="Unix time, created at or before"),
            OpenApiParameter("skip", OpenApiTypes.INT, description="Number of records to skip"),
            OpenApiParameter("take", OpenApiTypes.INT, description="Number of records to return"),
            INCLUDE_METHODS,
        ],
        responses={200: InvoiceDataWithMethodsSerializer(many=True), 400: VALIDATION_ERROR, 401: ERROR, 403: ERROR},
    )
    @greenfield_permission(policies.CAN_VIEW_INVOICES)
    def get(self, request, storeId: str):
        query = {key: request.query_params.getlist(key) for key in ("status", "orderId")}
        for key in ("textSearch", "startDate", "endDate", "skip", "take", "includePaymentMethods"):
            if key in request.query_params:
                query[key] = request.query_params[key]
        filters = self.FilterSerializer(data=query)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data

        def moment(key):
            return dt.datetime.fromtimestamp(data[key], dt.UTC) if key in data else None

        invoices = selectors.invoice_list(
            store_id=storeId,
            order_ids=data.get("orderId"),
            statuses=data.get("status"),
            text_search=data.get("textSearch"),
            start=moment("startDate"),
            end=moment("endDate"),
            skip=data["skip"],
            take=data.get("take"),
        )
        return Response([_render(i, with_methods=data["includePaymentMethods"]) for i in invoices])


class InvoiceCreateApi(APIView):
    permission_classes = [GreenfieldPermission]

    class InputSerializer(ReusedFieldsMixin, serializers.Serializer):
        amount = GreenfieldAmountField(required=False, allow_null=True)
        currency = serializers.RegexField(r"^[A-Za-z0-9]{2,10}$", required=False, allow_null=True, allow_blank=True)
        metadata = MetadataField(required=False, allow_null=True)
        checkout = CheckoutOptionsSerializer(required=False, allow_null=True)
        receipt = ReceiptOptionsSerializer(required=False, allow_null=True)
        additionalSearchTerms = serializers.ListField(
            child=serializers.CharField(max_length=200), max_length=50, required=False, allow_null=True
        )

        class Meta:
            ref_name = "CreateInvoiceRequest"

    OutputSerializer = InvoiceDataSerializer

    @extend_schema(
        operation_id="Invoices_CreateInvoice",
        tags=["Invoices"],
        parameters=[STORE_ID],
        request=InputSerializer,
        responses={200: InvoiceDataSerializer, 400: VALIDATION_ERROR, 401: ERROR, 403: ERROR, 422: ERROR},
    )
    @greenfield_permission(policies.CAN_CREATE_INVOICE)
    @idempotent
    def post(self, request, storeId: str):
        if not isinstance(request.data, dict):
            raise FieldError("", "The body must be a JSON object")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        invoice = services.invoice_create(
            store=store_get(store_id=storeId),
            amount=data.get("amount"),
            currency=data.get("currency") or None,
            metadata=data.get("metadata") or {},
            checkout=_not_null(dict(data.get("checkout") or {})),
            receipt=_not_null(dict(data.get("receipt") or {})),
            additional_search_terms=data.get("additionalSearchTerms") or [],
            actor=_actor(request),
        )
        return Response(_render(invoice, payments=[]))  # just created: nothing paid yet


class InvoicesApi(InvoiceListApi, InvoiceCreateApi):
    pass


class InvoiceGetApi(APIView):
    permission_classes = [GreenfieldPermission]
    OutputSerializer = InvoiceDataWithMethodsSerializer

    @extend_schema(
        operation_id="Invoices_GetInvoice",
        tags=["Invoices"],
        parameters=[INVOICE_ID, INCLUDE_METHODS],
        responses={200: InvoiceDataWithMethodsSerializer, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(policies.CAN_VIEW_INVOICES)
    def get(self, request, invoiceId: str, storeId: str | None = None):
        invoice = _invoice_for(request, invoice_id=invoiceId, policy=policies.CAN_VIEW_INVOICES, store_id=storeId)
        return Response(_render(invoice, with_methods=_bool_param(request, "includePaymentMethods")))


class InvoiceUpdateApi(APIView):
    permission_classes = [GreenfieldPermission]

    class InputSerializer(serializers.Serializer):
        # BTCPay replaces the metadata when it is given and answers the invoice unchanged when
        # it is not (GreenfieldInvoiceController.UpdateInvoice).
        metadata = MetadataField(required=False, allow_null=True)

        class Meta:
            ref_name = "UpdateInvoiceRequest"

    OutputSerializer = InvoiceDataSerializer

    @extend_schema(
        operation_id="Invoices_UpdateInvoice",
        tags=["Invoices"],
        parameters=[INVOICE_ID],
        request=InputSerializer,
        responses={200: InvoiceDataSerializer, 400: VALIDATION_ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(policies.CAN_MODIFY_INVOICES)
    def put(self, request, invoiceId: str, storeId: str | None = None):
        invoice = _invoice_for(request, invoice_id=invoiceId, policy=policies.CAN_MODIFY_INVOICES, store_id=storeId)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        metadata = serializer.validated_data.get("metadata")
        if metadata is not None:
            invoice = services.invoice_metadata_update(invoice=invoice, metadata=metadata, actor=_actor(request))
        return Response(_render(invoice))


class InvoiceArchiveApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Invoices_ArchiveInvoice",
        tags=["Invoices"],
        parameters=[INVOICE_ID],
        responses={200: None, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(policies.CAN_MODIFY_INVOICES)
    def delete(self, request, invoiceId: str, storeId: str | None = None):
        invoice = _invoice_for(request, invoice_id=invoiceId, policy=policies.CAN_MODIFY_INVOICES, store_id=storeId)
        services.invoice_archive_set(invoice=invoice, archived=True)
        return Response(status=200)


class InvoiceDetailApi(InvoiceGetApi, InvoiceUpdateApi, InvoiceArchiveApi):
    pass


class InvoiceUnarchiveApi(APIView):
    permission_classes = [GreenfieldPermission]
    OutputSerializer = InvoiceDataSerializer

    @extend_schema(
        operation_id="Invoices_UnarchiveInvoice",
        tags=["Invoices"],
        parameters=[INVOICE_ID],
        request=None,
        responses={200: InvoiceDataSerializer, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(policies.CAN_MODIFY_INVOICES)
    def post(self, request, invoiceId: str, storeId: str | None = None):
        invoice = _invoice_for(request, invoice_id=invoiceId, policy=policies.CAN_MODIFY_INVOICES, store_id=storeId)
        invoice = services.invoice_archive_set(invoice=invoice, archived=False)
        return Response(_render(invoice))


class InvoicePaymentMethodsApi(APIView):
    permission_classes = [GreenfieldPermission]
    OutputSerializer = InvoicePaymentMethodDataSerializer

    @extend_schema(
        operation_id="Invoices_GetInvoicePaymentMethods",
        tags=["Invoices"],
        parameters=[
            INVOICE_ID,
            OpenApiParameter("onlyAccountedPayments", OpenApiTypes.BOOL, description="Leave out invalidated payments (default true)"),
            OpenApiParameter("includeSensitive", OpenApiTypes.BOOL, description="Include the account derivation (needs canmodifystoresettings)"),
        ],
        responses={200: InvoicePaymentMethodDataSerializer(many=True), 401: ERROR, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(policies.CAN_VIEW_INVOICES)
    def get(self, request, invoiceId: str, storeId: str | None = None):
        invoice = _invoice_for(request, invoice_id=invoiceId, policy=policies.CAN_VIEW_INVOICES, store_id=storeId)
        sensitive = _bool_param(request, "includeSensitive")
        if sensitive:
            require_permission(request=request, policy=policies.CAN_MODIFY_STORE_SETTINGS, store_id=invoice.store_id)
        methods = selectors.invoice_payment_methods_data(
            invoice=invoice,
            only_accounted=_bool_param(request, "onlyAccountedPayments", default=True),
            include_sensitive=sensitive,
        )
        return Response(self.OutputSerializer(methods, many=True).data)


class InvoiceMarkStatusApi(APIView):
    permission_classes = [GreenfieldPermission]

    class InputSerializer(serializers.Serializer):
        status = EnumField(choices=INVOICE_STATUS_MARKS)

        class Meta:
            ref_name = "MarkInvoiceStatusRequest"

    OutputSerializer = InvoiceDataSerializer

    @extend_schema(
        operation_id="Invoices_MarkInvoiceStatus",
        tags=["Invoices"],
        parameters=[INVOICE_ID],
        request=InputSerializer,
        responses={200: InvoiceDataSerializer, 400: VALIDATION_ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 422: ERROR},
    )
    @greenfield_permission(policies.CAN_MODIFY_INVOICES)
    def post(self, request, invoiceId: str, storeId: str | None = None):
        invoice = _invoice_for(request, invoice_id=invoiceId, policy=policies.CAN_MODIFY_INVOICES, store_id=storeId)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invoice = services.invoice_mark_status(
            invoice=invoice, status=serializer.validated_data["status"], actor=_actor(request)
        )
        return Response(_render(invoice))


class InvoicePaymentMethodActivateApi(APIView):
    """Greenfield activate. Methods are minted at creation; the one exception is BTC-LN after a
    partial payment, whose BOLT11 for what is due is minted by a task (``activated: false`` until
    then): activating it mints that BOLT11 now. An active method is left as it is."""

    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Invoices_ActivatePaymentMethod",
        tags=["Invoices"],
        parameters=[INVOICE_ID, OpenApiParameter("paymentMethodId", OpenApiTypes.STR, OpenApiParameter.PATH)],
        request=None,
        responses={200: EMPTY_OK, 400: VALIDATION_ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 422: ERROR, 502: ERROR, 503: ERROR},
    )
    @greenfield_permission(policies.CAN_VIEW_INVOICES)
    def post(self, request, invoiceId: str, paymentMethodId: str, storeId: str | None = None):
        invoice = _invoice_for(request, invoice_id=invoiceId, policy=policies.CAN_VIEW_INVOICES, store_id=storeId)
        method_id = payment_method_id_parse(paymentMethodId)
        if method_id is None or not invoice.prompts.filter(payment_method_id=method_id).exists():
            raise FieldError("paymentMethodId", f"{paymentMethodId[:40]!r} is not a payment method of this invoice")
        if method_id == PaymentMethodId.BTC_LN:
            invoice_lightning_prompt_activate(invoice_id=invoice.pk)
        return Response(status=200)
