"""Public LNURL-pay endpoints of an invoice (LUD-06 pay request and callback; LUD-12 comments)."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from flashpay.errors import ApplicationError
from invoices import selectors
from invoices.services.lnurl import invoice_lnurl_callback, invoice_lnurl_pay_request

LNURL_ERROR = inline_serializer("InvoiceLnurlError", {"status": serializers.CharField(), "reason": serializers.CharField()})
INVOICE_ID = OpenApiParameter("invoiceId", OpenApiTypes.STR, OpenApiParameter.PATH)


def _error(exc: ApplicationError) -> Response:
    # LUD-06 wallets read errors as {"status": "ERROR", "reason": ...}
    return Response({"status": "ERROR", "reason": exc.message}, status=exc.status_code)


class LnurlPayRequestApi(APIView):
    """Anyone holding the invoice's LNURL may ask for its pay request (like the checkout page)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        tag = serializers.CharField()
        callback = serializers.URLField()
        minSendable = serializers.IntegerField()
        maxSendable = serializers.IntegerField()
        metadata = serializers.CharField()
        commentAllowed = serializers.IntegerField(required=False)

        class Meta:
            ref_name = "InvoiceLnurlPayRequest"

    @extend_schema(operation_id="Invoices_LnurlPayRequest", tags=["LNURL"], parameters=[INVOICE_ID], responses={200: OutputSerializer, 400: LNURL_ERROR, 404: LNURL_ERROR})
    def get(self, request, invoiceId: str):
        try:
            invoice = selectors.invoice_get(invoice_id=invoiceId)
            return Response(self.OutputSerializer(invoice_lnurl_pay_request(invoice=invoice)).data)
        except ApplicationError as exc:
            return _error(exc)


class LnurlCallbackApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        amount = serializers.IntegerField(min_value=1)
        comment = serializers.CharField(max_length=1000, required=False, allow_blank=True)

    class OutputSerializer(serializers.Serializer):
        pr = serializers.CharField()
        routes = serializers.ListField(child=serializers.JSONField())

        class Meta:
            ref_name = "InvoiceLnurlPayCallback"

    @extend_schema(
        operation_id="Invoices_LnurlPayCallback",
        tags=["LNURL"],
        parameters=[
            INVOICE_ID,
            OpenApiParameter("amount", OpenApiTypes.INT, description="msat", required=True),
            OpenApiParameter("comment", OpenApiTypes.STR, description="LUD-12 comment"),
        ],
        responses={200: OutputSerializer, 400: LNURL_ERROR, 404: LNURL_ERROR},
    )
    def get(self, request, invoiceId: str):
        query = self.InputSerializer(data=request.query_params)
        if not query.is_valid():
            return Response({"status": "ERROR", "reason": "amount must be a positive whole number of msat"}, status=400)
        try:
            invoice = selectors.invoice_get(invoice_id=invoiceId)
            minted = invoice_lnurl_callback(
                invoice=invoice, amount_msat=query.validated_data["amount"], comment=query.validated_data.get("comment", "")
            )
        except ApplicationError as exc:
            return _error(exc)
        return Response(self.OutputSerializer({"pr": minted.bolt11, "routes": []}).data)
