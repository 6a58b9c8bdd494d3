"""Routes of the cards app, mounted under /cards/: programming, wipe and the tap (LNURL-withdraw)."""

from django.urls import path

from cards import apis
from cards.apis import tap

app_name = "cards"

urlpatterns = [
    # The one-time token travels in the query string (?token=...), not the path, so Django's
    # request logger, which logs the path of every 4xx, never writes a live token.
    path("program", apis.CardProgramApi.as_view(), name="program"),
    path("wipe", apis.CardWipeApi.as_view(), name="wipe"),
    # Programmed cards carry this path (cards.selectors.TAP_PATH) until re-programmed.
    path("tap", tap.CardTapApi.as_view(), name="tap"),
    path("tap/callback", tap.CardTapCallbackApi.as_view(), name="tap-callback"),
]
