"""The Flash app API for cardholders (/api/app/v1/): cards, balances, history, limits, top-ups.

Authentication: ``Authorization: Bearer <app token>`` (flashpay.accounts.authentication), obtained with a
username and password at ``auth/token``. Every card endpoint only sees the caller's own cards;
another holder's card is a 404, like an unknown one.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from cards import selectors
from cards.services import app_tokens
from cards.services import cards as card_services
from cards.services.topups import card_topup_create
from flashpay.accounts.authentication import AppTokenAuthentication
from flashpay.ratelimit.clients import client_ip
from flashpay.ratelimit.services import ratelimit_enforce


class AppApi(APIView):
    authentication_classes = [AppTokenAuthentication]
    permission_classes = [IsAuthenticated]


class CardOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FlashAppCard"

    id = serializers.CharField(source="card.public_id")
    name = serializers.CharField(source="card.name")
    status = serializers.CharField(source="card.status")
    per_transaction_limit_msat = serializers.IntegerField(source="card.per_transaction_limit_msat")
    daily_limit_msat = serializers.IntegerField(source="card.daily_limit_msat")
    spent_today_msat = serializers.IntegerField()
    balance_msat = serializers.IntegerField()
    available_msat = serializers.IntegerField()
    pending_msat = serializers.IntegerField(help_text="reserved by payments still in flight")
    incoming_msat = serializers.IntegerField(help_text="top-ups seen but not confirmed yet: not spendable")
    owed_msat = serializers.IntegerField(help_text="what the holder owes: a top-up taken back after it was spent")
    activated_at = serializers.DateTimeField(source="card.activated_at", allow_null=True)


def card_view(card) -> dict:
    balance = selectors.card_balance(card=card)
    return {
        "card": card,
        "spent_today_msat": selectors.card_spent_today_msat(card=card),
        "balance_msat": balance.posted.value,
        "available_msat": balance.available.value,
        "pending_msat": balance.pending_debit.value,
        "incoming_msat": balance.pending_credit.value,
        "owed_msat": selectors.card_owed_msat(card=card),
    }


class AppTokenApi(APIView):
    """POST {username, password} -> a new app token (shown once)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FlashAppLogin"

        username = serializers.CharField(max_length=254)
        password = serializers.CharField(max_length=256, trim_whitespace=False)
        label = serializers.CharField(max_length=100, required=False, default="")

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FlashAppToken"

        token = serializers.CharField()
        token_type = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer}, auth=[])
    def post(self, request):
        ip = client_ip(request)
        # Password guessing: the stricter per-card budget (taps a minute) also bounds logins per IP.
        if ip:
            ratelimit_enforce(
                key=f"app-login:{ip}", limit=settings.CARD_RATE_LIMIT_PER_CARD,
                message="too many login attempts, try again in a minute",
            )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = app_tokens.app_token_issue(**data.validated_data)
        response = Response(
            self.OutputSerializer({"token": issued.token, "token_type": "Bearer"}).data,
            status=status.HTTP_201_CREATED,
        )
        response["Cache-Control"] = "no-store"
        return response


class MyCardsApi(AppApi):
    """GET: my cards with balances."""

    @extend_schema(responses={200: CardOutputSerializer(many=True)})
    def get(self, request):
        cards = selectors.card_list_for_holder(user=request.user)
        return Response(CardOutputSerializer([card_view(card) for card in cards], many=True).data)


class CardLinkApi(AppApi):
    """POST {activation_code}: link the card printed with this code to me."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FlashAppCardLink"

        activation_code = serializers.CharField(max_length=64)

    @extend_schema(request=InputSerializer, responses={200: CardOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        card = card_services.card_claim(activation_code=data.validated_data["activation_code"], user=request.user)
        return Response(CardOutputSerializer(card_view(card)).data)


class CardDetailApi(AppApi):
    @extend_schema(responses={200: CardOutputSerializer})
    def get(self, request, card_id: str):
        card = selectors.card_get_for_holder(user=request.user, public_id=card_id)
        return Response(CardOutputSerializer(card_view(card)).data)


class HistoryPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class CardHistoryApi(AppApi):
    """GET: the card's taps, top-ups, refunds and rewards, newest first (paginated)."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FlashAppHistoryItem"

        kind = serializers.CharField()
        amount_msat = serializers.IntegerField()
        status = serializers.CharField()
        description = serializers.CharField()
        merchant_name = serializers.CharField()
        created_at = serializers.DateTimeField()
        reference = serializers.CharField()

    @extend_schema(
        responses={200: OutputSerializer(many=True)},
        parameters=[
            OpenApiParameter("page", int, required=False),
            OpenApiParameter("page_size", int, required=False),
        ],
    )
    def get(self, request, card_id: str):
        card = selectors.card_get_for_holder(user=request.user, public_id=card_id)
        paginator = HistoryPagination()
        page = paginator.paginate_queryset(selectors.card_history_entries(card=card), request, view=self)
        items = selectors.card_history_items(card=card, entries=page)
        return paginator.get_paginated_response(self.OutputSerializer(items, many=True).data)


class CardFreezeApi(AppApi):
    @extend_schema(request=None, responses={200: CardOutputSerializer})
    def post(self, request, card_id: str):
        card = selectors.card_get_for_holder(user=request.user, public_id=card_id)
        card = card_services.card_freeze(card=card, actor=request.user, reason="frozen by the holder in the app")
        return Response(CardOutputSerializer(card_view(card)).data)


class CardUnfreezeApi(AppApi):
    @extend_schema(request=None, responses={200: CardOutputSerializer})
    def post(self, request, card_id: str):
        card = selectors.card_get_for_holder(user=request.user, public_id=card_id)
        card = card_services.card_unfreeze(card=card, actor=request.user, reason="unfrozen by the holder in the app")
        return Response(CardOutputSerializer(card_view(card)).data)


class CardLimitsApi(AppApi):
    """PUT {per_transaction_limit_msat, daily_limit_msat}, within the program maximums."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FlashAppCardLimits"

        per_transaction_limit_msat = serializers.IntegerField(min_value=0)
        daily_limit_msat = serializers.IntegerField(min_value=0)

    @extend_schema(request=InputSerializer, responses={200: CardOutputSerializer})
    def put(self, request, card_id: str):
        card = selectors.card_get_for_holder(user=request.user, public_id=card_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        card = card_services.card_limits_set_by_holder(card=card, user=request.user, **data.validated_data)
        return Response(CardOutputSerializer(card_view(card)).data)


class CardTopUpApi(AppApi):
    """POST {amount, currency} or {amount_msat} or {}: a program-store invoice that credits the
    card once paid (any amount when none is given), with its hosted checkout link."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FlashAppTopUpRequest"

        amount = serializers.DecimalField(
            max_digits=20, decimal_places=11, min_value=Decimal("0.00000000001"), required=False, allow_null=True, default=None
        )
        currency = serializers.RegexField(r"^[A-Za-z]{3,4}$", required=False, allow_null=True, default=None)
        amount_msat = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)

        def validate(self, attrs):
            if attrs["amount"] is not None and attrs["amount_msat"] is not None:
                raise serializers.ValidationError({"amount_msat": "give amount (with currency) or amount_msat, not both"})
            return attrs

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FlashAppTopUp"

        id = serializers.CharField(source="topup.public_id")
        status = serializers.CharField(source="topup.status")
        invoice_id = serializers.CharField(source="topup.invoice_id")
        invoice_status = serializers.CharField()
        amount_msat = serializers.IntegerField(source="topup.amount_msat", allow_null=True)
        credited_msat = serializers.IntegerField(source="topup.credited_msat")
        pending_msat = serializers.IntegerField(source="topup.pending_msat")
        expires_at = serializers.DateTimeField(source="topup.expires_at")
        checkout_link = serializers.CharField()
        bolt11 = serializers.CharField(allow_null=True)
        bitcoin_address = serializers.CharField(allow_null=True)
        payment_links = serializers.DictField(child=serializers.CharField())

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, card_id: str):
        card = selectors.card_get_for_holder(user=request.user, public_id=card_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        topup = card_topup_create(card=card, **data.validated_data)
        return Response(self.OutputSerializer(selectors.card_topup_view(topup=topup)).data, status=status.HTTP_201_CREATED)
