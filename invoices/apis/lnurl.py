"""Public LNURL-pay endpoints of an invoice (LUD-06 pay request and callback; LUD-12 comments)."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from flashpay.errors import ApplicationError
from flashpay.ratelimit.clients import client_ip
from flashpay.ratelimit.services import RateLimited
from invoices import selectors
from invoices.services.lnurl import invoice_lnurl_callback, invoice_lnurl_pay_request

LNURL_ERROR = inline_serializer("InvoiceLnurlError", {"status": serializers.CharField(), "reason": serializers.CharField()})
INVOICE_ID = OpenApiParameter("invoiceId", OpenApiTypes.STR, OpenApiParameter.PATH)


def _error(exc: ApplicationError) -> Response:
    # LUD-06 wallets read errors as {"status": "ERROR", "reason": ...}; the HTTP status tells
    # proxies and logs, and a 429 says when to come back (RFC 9110 Retry-After).
    response = Response({"status": "ERROR", "reason": exc.message}, status=exc.status_code)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
    response["Cache-Control"] = "no-store"
    return response


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
            OpenApiParameter(
                "Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, description="seconds to wait", response=[429]
            ),
        ],
        responses={
            200: OutputSerializer,
            400: LNURL_ERROR,
            404: LNURL_ERROR,
            429: OpenApiResponse(LNURL_ERROR, description="Too many callbacks from this address or for this invoice"),
        },
    )
    def get(self, request, invoiceId: str):
        query = self.InputSerializer(data=request.query_params)
        if not query.is_valid():
            return _error(ApplicationError("amount must be a positive whole number of msat"))
        try:
            minted = invoice_lnurl_callback(
                invoice_id=invoiceId,
                amount_msat=query.validated_data["amount"],
                comment=query.validated_data.get("comment", ""),
                ip=client_ip(request),
            )
        except ApplicationError as exc:
            return _error(exc)
        response = Response(self.OutputSerializer({"pr": minted.bolt11, "routes": []}).data)
        response["Cache-Control"] = "no-store"
        return response
