"""Greenfield response shapes of invoices and payment methods, for rendering and for the OpenAPI schema."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from flashpay.serializers import ReusedFieldsMixin

ERROR = inline_serializer(
    "InvoicesProblemDetails", {"code": serializers.CharField(), "message": serializers.CharField()}
)
VALIDATION_ERROR = inline_serializer(
    "InvoicesValidationProblemDetails",
    {"path": serializers.CharField(), "message": serializers.CharField()},
    many=True,
)
EMPTY_OK = OpenApiResponse(description="Done")

# Greenfield's enum components; named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] so the schema
# uses Greenfield's names for them.
INVOICE_STATUSES = ["New", "Processing", "Expired", "Invalid", "Settled"]
INVOICE_STATUS_MARKS = ["Invalid", "Settled"]
ADDITIONAL_STATUSES = ["None", "PaidLate", "PaidPartial", "Marked", "Invalid", "PaidOver"]
PAYMENT_STATUSES = ["Invalid", "Processing", "Settled"]


class PaymentSerializer(serializers.Serializer):
    """Greenfield ``Payment``."""

    id = serializers.CharField()
    receivedDate = serializers.IntegerField()
    value = serializers.CharField()
    fee = serializers.CharField()
    status = serializers.ChoiceField(choices=PAYMENT_STATUSES)
    destination = serializers.CharField()

    class Meta:
        ref_name = "Payment"


class InvoicePaymentMethodDataSerializer(serializers.Serializer):
    """Greenfield ``InvoicePaymentMethodDataModel``."""

    paymentMethodId = serializers.CharField()
    currency = serializers.CharField()
    destination = serializers.CharField()
    paymentLink = serializers.CharField(allow_null=True)
    rate = serializers.CharField()
    paymentMethodPaid = serializers.CharField()
    totalPaid = serializers.CharField()
    due = serializers.CharField()
    amount = serializers.CharField()
    paymentMethodFee = serializers.CharField()
    payments = PaymentSerializer(many=True)
    activated = serializers.BooleanField()
    additionalData = serializers.JSONField()

    class Meta:
        ref_name = "InvoicePaymentMethodDataModel"


class InvoiceDataSerializer(ReusedFieldsMixin, serializers.Serializer):
    """Greenfield ``InvoiceData`` (every invoice the API returns: fields built once per thread)."""

    id = serializers.CharField()
    storeId = serializers.CharField()
    amount = serializers.CharField()
    paidAmount = serializers.CharField()
    currency = serializers.CharField()
    type = serializers.ChoiceField(choices=["Standard", "TopUp"])
    checkoutLink = serializers.CharField()
    createdTime = serializers.IntegerField()
    expirationTime = serializers.IntegerField()
    monitoringExpiration = serializers.IntegerField()
    status = serializers.ChoiceField(choices=INVOICE_STATUSES)
    additionalStatus = serializers.ChoiceField(choices=ADDITIONAL_STATUSES)
    availableStatusesForManualMarking = serializers.ListField(child=serializers.CharField())
    archived = serializers.BooleanField()
    metadata = serializers.JSONField()
    checkout = serializers.JSONField()
    receipt = serializers.JSONField()

    class Meta:
        ref_name = "InvoiceData"


class InvoiceDataWithMethodsSerializer(InvoiceDataSerializer):
    paymentMethods = InvoicePaymentMethodDataSerializer(many=True, required=False)

    class Meta:
        ref_name = "InvoiceDataWithPaymentMethods"


class GenericPaymentMethodDataSerializer(serializers.Serializer):
    """Greenfield ``GenericPaymentMethodData`` (config only with includeConfig; never a secret)."""

    enabled = serializers.BooleanField()
    paymentMethodId = serializers.CharField()
    config = serializers.JSONField(required=False)

    class Meta:
        ref_name = "GenericPaymentMethodData"


class PreviewAddressSerializer(serializers.Serializer):
    keyPath = serializers.CharField()
    address = serializers.CharField()

    class Meta:
        ref_name = "OnChainPaymentMethodPreviewResultAddressItem"


class PreviewResultSerializer(serializers.Serializer):
    addresses = PreviewAddressSerializer(many=True)

    class Meta:
        ref_name = "OnChainPaymentMethodPreviewResultData"
