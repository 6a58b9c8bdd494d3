"""Routes of the Flash app API, mounted at /api/app/v1/ (see cards/apis/app.py)."""

from django.urls import path

from cards.apis import app

app_name = "cards-app"

urlpatterns = [
    path("auth/token", app.AppTokenApi.as_view(), name="token"),
    path("cards", app.MyCardsApi.as_view(), name="cards"),
    path("cards/link", app.CardLinkApi.as_view(), name="card-link"),
    path("cards/<str:card_id>", app.CardDetailApi.as_view(), name="card"),
    path("cards/<str:card_id>/history", app.CardHistoryApi.as_view(), name="card-history"),
    path("cards/<str:card_id>/freeze", app.CardFreezeApi.as_view(), name="card-freeze"),
    path("cards/<str:card_id>/unfreeze", app.CardUnfreezeApi.as_view(), name="card-unfreeze"),
    path("cards/<str:card_id>/limits", app.CardLimitsApi.as_view(), name="card-limits"),
    path("cards/<str:card_id>/topups", app.CardTopUpApi.as_view(), name="card-topups"),
]
