"""Greenfield ``GET /api/v1/server/info``: any authenticated caller (BTCPay asks for no permission)."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from invoices.apis.shapes import ERROR
from invoices.server_info import server_info_data


class NodeStatusSerializer(serializers.Serializer):
    headers = serializers.IntegerField()
    blocks = serializers.IntegerField()
    verificationProgress = serializers.FloatField()

    class Meta:
        ref_name = "ApplicationServerInfoNodeStatusData"


class SyncStatusSerializer(serializers.Serializer):
    paymentMethodId = serializers.CharField()
    nodeInformation = NodeStatusSerializer(allow_null=True)
    chainHeight = serializers.IntegerField()
    syncHeight = serializers.IntegerField(allow_null=True)
    available = serializers.BooleanField()

    class Meta:
        ref_name = "ApplicationServerInfoSyncStatusData"


class ServerInfoApi(APIView):
    """The default permission (IsAuthenticated) is BTCPay's: a key with no permission may ask."""

    class OutputSerializer(serializers.Serializer):
        version = serializers.CharField()
        onion = serializers.CharField(allow_null=True)
        supportedPaymentMethods = serializers.ListField(child=serializers.CharField())
        fullySynched = serializers.BooleanField()
        syncStatus = SyncStatusSerializer(many=True)

        class Meta:
            ref_name = "ApplicationServerInfoData"

    @extend_schema(
        operation_id="ServerInfo_GetServerInfo",
        tags=["ServerInfo"],
        responses={200: OutputSerializer, 401: ERROR},
    )
    def get(self, request):
        return Response(self.OutputSerializer(server_info_data()).data)
