"""Routes of the Flash app's rewards API, mounted at /api/app/v1/ beside the card routes."""

from django.urls import path

from rewards import apis

app_name = "rewards-app"

urlpatterns = [
    path("rewards", apis.RewardsBalanceApi.as_view(), name="balance"),
    path("rewards/join", apis.RewardsJoinApi.as_view(), name="join"),
    path("rewards/history", apis.RewardsHistoryApi.as_view(), name="history"),
    path("rewards/campaigns", apis.RewardsCampaignsApi.as_view(), name="campaigns"),
    path("rewards/catalog", apis.RewardsCatalogApi.as_view(), name="catalog"),
    path("rewards/redeem/card", apis.RedeemToCardApi.as_view(), name="redeem-card"),
    path("rewards/redeem/catalog", apis.RedeemCatalogApi.as_view(), name="redeem-catalog"),
    path("rewards/redemptions", apis.RedemptionListApi.as_view(), name="redemptions"),
]
