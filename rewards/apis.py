"""The Flash app's rewards API (/api/app/v1/rewards...): balance, history, offers, catalog, redeem.

Authentication: ``Authorization: Bearer <app token>`` (flashpay.accounts.authentication), the same tokens
as the app's card endpoints. Every endpoint sees only the caller's own points. Redemptions are
POSTs that accept an ``Idempotency-Key`` header (flashpay.idempotency): a replay gets the first
answer and redeems nothing twice. Points are whole sats (1 point = 1 sat).
"""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from flashpay.accounts.authentication import AppTokenAuthentication
from flashpay.idempotency.apis import idempotent
from rewards import selectors
from rewards.models import MSAT_PER_POINT
from rewards.services import members, redemption


class RewardsApi(APIView):
    authentication_classes = [AppTokenAuthentication]
    permission_classes = [IsAuthenticated]


class TierSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FlashAppRewardsTier"

    name = serializers.CharField()
    multiplier = serializers.DecimalField(max_digits=4, decimal_places=2)


class BalanceOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FlashAppRewardsBalance"

    member_id = serializers.CharField(help_text="Empty until the user first earns or joins.")
    referral_code = serializers.CharField()
    pending_points = serializers.IntegerField(help_text="Earned, waiting out the hold period.")
    available_points = serializers.IntegerField(help_text="Ready to redeem.")
    expiring_soon_points = serializers.IntegerField()
    expiring_soon_days = serializers.IntegerField()
    next_expiry_at = serializers.DateTimeField(allow_null=True)
    tier = TierSerializer(allow_null=True)
    next_tier = TierSerializer(allow_null=True)
    next_tier_spend_points = serializers.IntegerField(allow_null=True, help_text="Spend (sats) still needed for the next tier.")
    spend_points = serializers.IntegerField(help_text="Spend (sats) over the tier window at the last recompute.")


class RewardsBalanceApi(RewardsApi):
    """GET: my points (pending, available, expiring soon) and my tier."""

    @extend_schema(responses={200: BalanceOutputSerializer})
    def get(self, request):
        return Response(BalanceOutputSerializer(selectors.member_balance(user=request.user)).data)


class RewardsJoinApi(RewardsApi):
    """POST {referral_code?}: join the program (sign-up and referral bonuses when the program pays them)."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FlashAppRewardsJoin"

        referral_code = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses={200: BalanceOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        members.member_join(user=request.user, referral_code=data.validated_data["referral_code"])
        return Response(BalanceOutputSerializer(selectors.member_balance(user=request.user)).data)


class HistoryItemSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FlashAppRewardsHistoryItem"

    action = serializers.ChoiceField(
        choices=["earn", "mature", "clawback", "reverse", "expire", "redeem", "catalog", "adjust"]
    )
    pending_points = serializers.IntegerField(help_text="Signed change of pending points.")
    available_points = serializers.IntegerField(help_text="Signed change of available points.")
    description = serializers.CharField()
    reference = serializers.CharField()
    created_at = serializers.DateTimeField()


class HistoryPageSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FlashAppRewardsHistoryPage"

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = HistoryItemSerializer(many=True)


class HistoryPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class RewardsHistoryApi(RewardsApi):
    """GET: every movement of my points, newest first (paginated)."""

    @extend_schema(
        responses={200: HistoryPageSerializer},
        parameters=[OpenApiParameter("page", int, required=False), OpenApiParameter("page_size", int, required=False)],
    )
    def get(self, request):
        member = selectors.member_get_for_user(user=request.user)
        paginator = HistoryPagination()
        page = paginator.paginate_queryset(selectors.member_history_transactions(member=member), request, view=self)
        items = selectors.member_history_items(member=member, transaction_ids=list(page)) if member else []
        return paginator.get_paginated_response(HistoryItemSerializer(items, many=True).data)


class MerchantSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FlashAppRewardsMerchant"

    id = serializers.CharField(source="pk")
    name = serializers.CharField()


class CampaignOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FlashAppRewardsCampaign"

    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    description = serializers.CharField()
    effect = serializers.CharField()
    multiplier = serializers.DecimalField(max_digits=4, decimal_places=2, allow_null=True)
    bonus_points = serializers.IntegerField(allow_null=True)
    on_card_payment = serializers.BooleanField()
    on_invoice = serializers.BooleanField()
    min_purchase_points = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(allow_null=True)
    days_of_week = serializers.ListField(child=serializers.IntegerField(), help_text="0 = Monday; empty: every day.")
    hour_from = serializers.IntegerField()
    hour_to = serializers.IntegerField()
    time_zone = serializers.CharField()
    merchants = MerchantSerializer(many=True, help_text="Empty: every participating merchant.")
    running_now = serializers.BooleanField()


def _campaign_view(campaign) -> dict:
    from django.conf import settings

    multiplier = campaign.effect == "multiplier"
    return {
        "public_id": campaign.public_id,
        "name": campaign.name,
        "description": campaign.description,
        "effect": campaign.effect,
        "multiplier": campaign.multiplier if multiplier else None,
        "bonus_points": None if multiplier else campaign.bonus_points,
        "on_card_payment": campaign.on_card_payment,
        "on_invoice": campaign.on_invoice,
        "min_purchase_points": campaign.min_purchase_msat // MSAT_PER_POINT,
        "starts_at": campaign.starts_at,
        "ends_at": campaign.ends_at,
        "days_of_week": [int(day) for day in campaign.days_of_week],
        "hour_from": campaign.hour_from,
        "hour_to": campaign.hour_to,
        "time_zone": campaign.time_zone or settings.REWARDS_DEFAULT_TIME_ZONE,
        "merchants": list(campaign.stores.all()),
        "running_now": selectors.campaign_running_now(campaign=campaign),
    }


class RewardsCampaignsApi(RewardsApi):
    """GET: the campaigns on offer (active now or starting later)."""

    @extend_schema(responses={200: CampaignOutputSerializer(many=True)})
    def get(self, request):
        campaigns = [_campaign_view(c) for c in selectors.campaign_offer_list()]
        return Response(CampaignOutputSerializer(campaigns, many=True).data)


class CatalogItemOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FlashAppRewardsCatalogItem"

    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    description = serializers.CharField()
    kind = serializers.CharField()
    price_points = serializers.IntegerField()
    in_stock = serializers.BooleanField()
    merchant = MerchantSerializer(source="store", allow_null=True)


class RewardsCatalogApi(RewardsApi):
    """GET: what points can buy."""

    @extend_schema(responses={200: CatalogItemOutputSerializer(many=True)})
    def get(self, request):
        items = selectors.catalog_item_list().select_related("store")
        for item in items:
            item.in_stock = selectors.catalog_item_in_stock(item)
        return Response(CatalogItemOutputSerializer(items, many=True).data)


class CatalogItemRefSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FlashAppRewardsCatalogItemRef"

    id = serializers.CharField(source="public_id")
    name = serializers.CharField()


class RedemptionOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FlashAppRewardsRedemption"

    id = serializers.CharField(source="public_id")
    kind = serializers.CharField()
    points = serializers.SerializerMethodField()
    card_id = serializers.CharField(allow_blank=True)
    item = CatalogItemRefSerializer(allow_null=True)
    code = serializers.CharField(source="code.code", allow_null=True, default=None, help_text="The item's one-time code, if it has codes.")
    created_at = serializers.DateTimeField()

    def get_points(self, obj) -> int:
        return obj.amount_msat // MSAT_PER_POINT


class RedeemToCardApi(RewardsApi):
    """POST {card_id, points}: put points onto my Flash Card as sats, at once."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FlashAppRewardsRedeemToCard"

        card_id = serializers.CharField(max_length=32)
        points = serializers.IntegerField(min_value=1, max_value=redemption.MAX_REDEEM_POINTS)

    @extend_schema(
        request=InputSerializer,
        responses={201: RedemptionOutputSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
    )
    @idempotent
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        made = redemption.reward_redeem_to_card(user=request.user, **data.validated_data)
        return Response(RedemptionOutputSerializer(made).data, status=status.HTTP_201_CREATED)


class RedeemCatalogApi(RewardsApi):
    """POST {item_id}: buy one catalog item with points; its one-time code comes back once."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FlashAppRewardsRedeemCatalog"

        item_id = serializers.CharField(max_length=32)

    @extend_schema(
        request=InputSerializer,
        responses={201: RedemptionOutputSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
    )
    @idempotent
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        made = redemption.reward_redeem_catalog(user=request.user, item_id=data.validated_data["item_id"])
        response = Response(RedemptionOutputSerializer(made).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class RedemptionListApi(RewardsApi):
    """GET: my redemptions, newest first, with the codes of my catalog items."""

    @extend_schema(responses={200: RedemptionOutputSerializer(many=True)})
    def get(self, request):
        rows = selectors.redemption_list_for_user(user=request.user)[:200]
        response = Response(RedemptionOutputSerializer(rows, many=True).data)
        response["Cache-Control"] = "no-store"
        return response
