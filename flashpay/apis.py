"""Project-wide API endpoints (health)."""
from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


class HealthApi(APIView):
    """Greenfield `GET /api/v1/health`: no authentication, reports whether we are synchronized."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        synchronized = serializers.BooleanField()

    @extend_schema(operation_id="Health_GetHealth", responses=OutputSerializer, tags=["Health"])
    def get(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Response(self.OutputSerializer({"synchronized": True}).data)
