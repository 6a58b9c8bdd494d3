"""Project-wide API endpoints (health, the checkout's languages)."""
from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from flashpay.sql import database_ping


class HealthApi(APIView):
    """Greenfield `GET /api/v1/health`: no authentication, reports whether we are synchronized."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        synchronized = serializers.BooleanField()

    @extend_schema(operation_id="Health_GetHealth", responses=OutputSerializer, tags=["Health"])
    def get(self, request):
        database_ping()
        return Response(self.OutputSerializer({"synchronized": True}).data)


class LanguagesApi(APIView):
    """BTCPay's ``GET /misc/lang``: the checkout's languages (``checkout.defaultLanguage``, ``?lang=``);
    any signed-in caller, as in BTCPay."""

    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        currentLanguage = serializers.CharField()

        class Meta:
            ref_name = "Language"

    @extend_schema(operation_id="langCodes", responses={200: OutputSerializer(many=True)}, tags=["Miscelleneous"])
    def get(self, request):
        languages = [{"code": code, "currentLanguage": name} for code, name in settings.LANGUAGES]
        return Response(self.OutputSerializer(languages, many=True).data)
