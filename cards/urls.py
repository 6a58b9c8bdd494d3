"""Routes of the cards app, mounted under /cards/ (the tap endpoint will live at /cards/tap)."""

from django.urls import path

from cards import apis

app_name = "cards"

urlpatterns = [
    path("program/<str:token>", apis.CardProgramApi.as_view(), name="program"),
    path("wipe/<str:token>", apis.CardWipeApi.as_view(), name="wipe"),
]
