"""Routes of the cards app, mounted under /cards/ (the tap endpoint will live at /cards/tap)."""

from django.urls import path

from cards import apis

app_name = "cards"

urlpatterns = [
    # The one-time token travels in the query string (?token=...), not the path, so Django's
    # request logger, which logs the path of every 4xx, never writes a live token.
    path("program", apis.CardProgramApi.as_view(), name="program"),
    path("wipe", apis.CardWipeApi.as_view(), name="wipe"),
]
