"""The LNURL-withdraw endpoints a tapped card's URL leads to (LUD-03, LUD-17 ``lnurlw://``)."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from cards.services.payments import card_withdraw
from cards.services.taps import TapRefused, card_tap
from flashpay.ratelimit.clients import client_ip
from flashpay.ratelimit.services import ratelimit_retry_after

# A wallet (the merchant's point of sale) calls these on behalf of the card: the card's SUN MAC
# and then the single-use k1 are the credentials, so no session, token or CSRF applies.

_ERROR = inline_serializer(
    "LnurlError", fields={"status": serializers.CharField(), "reason": serializers.CharField()}
)
_RETRY_AFTER = OpenApiParameter(
    "Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, description="seconds to wait", response=[429]
)


def lnurl_error(exc: TapRefused) -> Response:
    """LUD-03 error body; the HTTP status says 4xx so logs and proxies see a refusal too, and a
    429 says when the limit's window ends (RFC 9110 Retry-After)."""
    response = Response({"status": "ERROR", "reason": exc.message}, status=exc.status_code)
    response["Cache-Control"] = "no-store"
    if response.status_code == 429:
        response["Retry-After"] = str(ratelimit_retry_after())
    return response


class CardTapApi(APIView):
    """GET ?p=&c= (what the card wrote) -> an LNURL-withdraw request with a single-use k1."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LnurlWithdrawRequest"

        tag = serializers.CharField()
        callback = serializers.CharField()
        k1 = serializers.CharField()
        defaultDescription = serializers.CharField()  # noqa: N815 - LUD-03 field name
        minWithdrawable = serializers.IntegerField()  # noqa: N815
        maxWithdrawable = serializers.IntegerField()  # noqa: N815

    @extend_schema(responses={200: OutputSerializer, 400: _ERROR, 429: _ERROR}, parameters=[_RETRY_AFTER], auth=[])
    def get(self, request):
        try:
            offer = card_tap(
                p=request.query_params.get("p", ""),
                c=request.query_params.get("c", ""),
                ip=client_ip(request),
            )
        except TapRefused as exc:
            return lnurl_error(exc)
        body = {
            "tag": "withdrawRequest",
            "callback": settings.FLASHPAY_BASE_URL.rstrip("/") + reverse("cards:tap-callback"),
            "k1": offer.k1,
            "defaultDescription": offer.default_description,
            "minWithdrawable": offer.min_withdrawable_msat,
            "maxWithdrawable": offer.max_withdrawable_msat,
        }
        response = Response(self.OutputSerializer(body).data)
        response["Cache-Control"] = "no-store"
        return response


class CardTapCallbackApi(APIView):
    """GET ?k1=&pr=<bolt11> -> {"status": "OK"} once the card pays, else an LNURL error."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LnurlStatus"

        status = serializers.CharField()

    @extend_schema(responses={200: OutputSerializer, 400: _ERROR, 429: _ERROR}, parameters=[_RETRY_AFTER], auth=[])
    def get(self, request):
        try:
            card_withdraw(
                k1=request.query_params.get("k1", ""),
                pr=request.query_params.get("pr", ""),
                ip=client_ip(request),
            )
        except TapRefused as exc:
            return lnurl_error(exc)
        response = Response(self.OutputSerializer({"status": "OK"}).data)
        response["Cache-Control"] = "no-store"
        return response
