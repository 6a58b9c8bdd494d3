"""Endpoints the Bolt Card NFC Programmer app calls with a one-time link (docs/DEEPLINK.md)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from cards.services import programming
from flashpay.ratelimit.clients import client_ip

# The programmer app holds no account: the 256-bit one-time token in the URL is the credential
# (single use, 10 minutes, hashed at rest), so session auth and its CSRF check do not apply.


def _token(request) -> str:
    # A missing token is an unknown link, like a wrong one: 404 without saying more.
    return request.query_params.get("token", "")


class CardProgramApi(APIView):
    """POST {"UID": "<14 hex>"} -> keys and lnurlw_base for a blank chip (the program action)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "BoltCardProgramRequest"

        UID = serializers.CharField(max_length=32)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "BoltCardProgramResponse"

        protocol_name = serializers.CharField()
        protocol_version = serializers.IntegerField()
        card_name = serializers.CharField()
        lnurlw_base = serializers.CharField()
        k0 = serializers.CharField()
        k1 = serializers.CharField()
        k2 = serializers.CharField()
        k3 = serializers.CharField()
        k4 = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer}, auth=[])
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = programming.card_program(
            token=_token(request), uid_hex=data.validated_data["UID"], ip=client_ip(request)
        )
        body = {
            "protocol_name": "create_bolt_card_response",
            "protocol_version": 2,
            "card_name": result.card.name,
            "lnurlw_base": result.lnurlw_base,
            **result.keys.as_hex(),
        }
        response = Response(self.OutputSerializer(body).data)
        response["Cache-Control"] = "no-store"
        return response


class CardWipeApi(APIView):
    """POST {"LNURLW": "lnurlw://...?p=..&c=.."} (or {"UID": ...}) -> the wipe keys (reset action)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "BoltCardWipeRequest"

        LNURLW = serializers.CharField(max_length=2000, required=False)
        UID = serializers.CharField(max_length=32, required=False)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "BoltCardWipeResponse"

        action = serializers.CharField()
        version = serializers.IntegerField()
        k0 = serializers.CharField()
        k1 = serializers.CharField()
        k2 = serializers.CharField()
        k3 = serializers.CharField()
        k4 = serializers.CharField()
        uid = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer}, auth=[])
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = programming.card_wipe(
            token=_token(request),
            lnurlw=data.validated_data.get("LNURLW"),
            uid_hex=data.validated_data.get("UID"),
            ip=client_ip(request),
        )
        body = {"action": "wipe", "version": 1, **result.keys.as_hex(), "uid": result.uid.lower()}
        response = Response(self.OutputSerializer(body).data)
        response["Cache-Control"] = "no-store"
        return response
