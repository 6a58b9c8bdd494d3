"""Project-wide API endpoints (health)."""
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
