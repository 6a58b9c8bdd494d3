"""Greenfield store rates: the rate configuration (primary and fallback), its preview, the store's rates, /misc/rate-sources.

FlashPay's rates are not BTCPay rate scripts: a store picks a preferred source among the enabled
ones (``/misc/rate-sources``) and a spread, and pairs are resolved as ``invoices.rates.selectors``
describes (the source, its inverse, cross rates through USD, EUR, BTC). So ``isCustomScript`` is
always false; asking for a script is a 400. ``effectiveScript`` shows the rule in BTCPay's syntax.
The fallback source is disabled (404 ``fallback-disabled``) until it is set, as in BTCPay.
"""
from __future__ import annotations

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from flashpay.accounts import policies
from flashpay.accounts.permissions import GreenfieldPermission, greenfield_permission
from flashpay.accounts.selectors import store_get
from flashpay.accounts.services import store_rate_settings_update
from flashpay.errors import ApplicationError, FieldError
from invoices.apis.shapes import ERROR, VALIDATION_ERROR
from invoices.rates.errors import InvalidCurrencyPair
from invoices.rates.selectors import rate_sources_list, rates_get, store_rate_sources
from invoices.rates.sources import enabled_source_ids
from invoices.rates.types import CurrencyPair

STORE_ID = OpenApiParameter("storeId", OpenApiTypes.STR, OpenApiParameter.PATH, description="The store id")
RATE_SOURCE = OpenApiParameter(
    "rateSource", OpenApiTypes.STR, OpenApiParameter.PATH, enum=["primary", "fallback"],
    description="The rate source to configure (`primary` or `fallback`)",
)
CURRENCY_PAIR = OpenApiParameter(
    "currencyPair", OpenApiTypes.STR, many=True, description="Currency pairs, like BTC_USD (repeat the parameter)"
)
MAX_PAIRS = 50


class RateConfigurationSerializer(serializers.Serializer):
    """Greenfield ``StoreRateConfiguration``."""

    spread = serializers.DecimalField(
        max_digits=7, decimal_places=4, min_value=Decimal(0), max_value=Decimal("99.9999"),
        coerce_to_string=False, required=False, default=Decimal(0),
    )
    preferredSource = serializers.CharField(max_length=50, required=False, allow_null=True, allow_blank=True)
    isCustomScript = serializers.BooleanField(required=False, default=False)
    effectiveScript = serializers.CharField(max_length=10000, required=False, allow_null=True, allow_blank=True)

    class Meta:
        ref_name = "StoreRateConfiguration"

    def validate(self, attrs):
        if attrs.get("isCustomScript"):
            raise serializers.ValidationError(
                {"isCustomScript": "FlashPay does not run rate scripts: set preferredSource (see /misc/rate-sources) and a spread"}
            )
        if attrs.get("effectiveScript"):
            raise serializers.ValidationError({"effectiveScript": "You can't set the effectiveScript if you aren't using custom scripts"})
        source = (attrs.get("preferredSource") or "").strip()
        if source:
            enabled = enabled_source_ids()
            match = next((s for s in enabled if s.lower() == source.lower()), None)
            if match is None:
                raise serializers.ValidationError(
                    {"preferredSource": f"Unsupported source {source[:40]!r}: use one of {', '.join(enabled)} (see /misc/rate-sources)"}
                )
            source = match
        attrs["preferredSource"] = source
        return attrs


class RateResultSerializer(serializers.Serializer):
    currencyPair = serializers.CharField()
    errors = serializers.ListField(child=serializers.CharField())
    rate = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "StoreRateResult"


def _configuration(*, spread: Decimal, source: str) -> dict:
    shown = source or store_rate_sources()[0]
    spread = Decimal(spread)
    return {
        "spread": int(spread) if spread == spread.to_integral_value() else float(spread),
        "preferredSource": shown,
        "isCustomScript": False,
        "effectiveScript": f"X_X = {shown}(X_X);",
    }


def _store_configuration(store, rate_source: str) -> dict:
    if rate_source == "fallback":
        if store.rate_fallback_source is None:
            raise ApplicationError("The fallback rates are disabled", code="fallback-disabled", status_code=404)
        return _configuration(spread=store.rate_spread, source=store.rate_fallback_source)
    return _configuration(spread=store.rate_spread, source=store.rate_preferred_source)


def _rate_source(rateSource: str | None) -> str:  # noqa: N803 (the path parameter's name)
    source = (rateSource or "primary").lower()
    if source not in ("primary", "fallback"):
        raise ApplicationError("Unknown rate source: use primary or fallback", code="rate-source-not-found", status_code=404)
    return source


def _pairs(request) -> list[str]:
    texts = request.query_params.getlist("currencyPair")
    if len(texts) > MAX_PAIRS:
        raise FieldError("currencyPair", f"At most {MAX_PAIRS} currency pairs")
    pairs = []
    for text in texts:
        try:
            pairs.append(str(CurrencyPair.parse(text)))
        except InvalidCurrencyPair:
            raise FieldError("currencyPair", f"Invalid currency pair {text[:40]!r} (it should be formatted like BTC_USD)") from None
    return list(dict.fromkeys(pairs))


def _results(pairs: list[str], *, spread, sources: list[str]) -> list[dict]:
    # BTCPay's store has default currency pairs (empty unless set); FlashPay's has none, so a
    # request without currencyPair gets an empty list, as from a BTCPay store that set none.
    if not pairs:
        return []
    return [
        {
            "currencyPair": result.pair,
            "errors": result.errors,
            "rate": format(result.rate.value.normalize(), "f") if result.rate is not None else None,
        }
        for result in rates_get(pairs=pairs, spread_percent=spread, source_preference=sources)
    ]


class RateConfigurationGetApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Stores_GetStoreRateConfiguration",
        tags=["Stores (Rates)"],
        parameters=[STORE_ID, RATE_SOURCE],
        responses={200: RateConfigurationSerializer, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(policies.CAN_VIEW_STORE_SETTINGS)
    def get(self, request, storeId: str, rateSource: str | None = None):  # noqa: N803
        source = _rate_source(rateSource)
        return Response(_store_configuration(store_get(store_id=storeId), source))


class RateConfigurationUpdateApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Stores_UpdateStoreRateConfiguration",
        tags=["Stores (Rates)"],
        parameters=[STORE_ID, RATE_SOURCE],
        request=RateConfigurationSerializer,
        responses={200: RateConfigurationSerializer, 400: VALIDATION_ERROR, 403: ERROR, 404: ERROR},
    )
    @greenfield_permission(policies.CAN_MODIFY_STORE_SETTINGS)
    def put(self, request, storeId: str, rateSource: str | None = None):  # noqa: N803
        source = _rate_source(rateSource)
        serializer = RateConfigurationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        store = store_rate_settings_update(
            store=store_get(store_id=storeId), spread_percent=data["spread"], source=data["preferredSource"],
            fallback=source == "fallback",
        )
        return Response(_store_configuration(store, source))


class RateConfigurationApi(RateConfigurationGetApi, RateConfigurationUpdateApi):
    pass


class RateConfigurationAliasApi(RateConfigurationApi):
    """``.../rates/configuration`` without a source: the primary one (BTCPay routes both)."""

    schema = None


class RateConfigurationPreviewApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Stores_PreviewStoreRateConfiguration",
        tags=["Stores (Rates)"],
        parameters=[STORE_ID, CURRENCY_PAIR],
        request=RateConfigurationSerializer,
        responses={200: RateResultSerializer(many=True), 400: VALIDATION_ERROR, 403: ERROR},
    )
    @greenfield_permission(policies.CAN_MODIFY_STORE_SETTINGS)
    def post(self, request, storeId: str):  # noqa: N803
        store_get(store_id=storeId)
        pairs = _pairs(request)
        serializer = RateConfigurationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        sources = store_rate_sources(preferred=data["preferredSource"])
        return Response(RateResultSerializer(_results(pairs, spread=data["spread"], sources=sources), many=True).data)


class StoreRatesApi(APIView):
    permission_classes = [GreenfieldPermission]

    @extend_schema(
        operation_id="Stores_GetStoreRates",
        tags=["Stores (Rates)"],
        parameters=[STORE_ID, CURRENCY_PAIR],
        responses={200: RateResultSerializer(many=True), 400: VALIDATION_ERROR, 403: ERROR},
    )
    @greenfield_permission(policies.CAN_VIEW_STORE_SETTINGS)
    def get(self, request, storeId: str):  # noqa: N803
        store = store_get(store_id=storeId)
        pairs = _pairs(request)
        sources = store_rate_sources(preferred=store.rate_preferred_source, fallback=store.rate_fallback_source)
        return Response(RateResultSerializer(_results(pairs, spread=store.rate_spread, sources=sources), many=True).data)


class RateSourcesApi(APIView):
    """BTCPay's ``GET /misc/rate-sources``: the sources a store may prefer (the enabled ones)."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.CharField()
        name = serializers.CharField()

        class Meta:
            ref_name = "RateSource"

    @extend_schema(operation_id="GetRateSources", tags=["Miscelleneous"], responses={200: OutputSerializer(many=True), 401: ERROR})
    def get(self, request):
        enabled = set(enabled_source_ids())
        sources = [{"id": s.id, "name": s.name} for s in rate_sources_list() if s.id in enabled]
        return Response(self.OutputSerializer(sources, many=True).data)
