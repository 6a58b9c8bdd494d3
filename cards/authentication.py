"""DRF authentication for the Flash app API: ``Authorization: Bearer <app token>``.

Registered on the app API views only (cards/apis/app.py); the Greenfield API keeps its own
``token <apikey>`` scheme. Tokens are random 256-bit secrets stored as SHA-256 hashes.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header


class AppTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header; expected 'Bearer <token>'")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Malformed app token")
        if not 20 <= len(token) <= 200:
            raise exceptions.AuthenticationFailed("Invalid app token")
        from cards.selectors import app_token_get_by_secret

        app_token = app_token_get_by_secret(token=token)
        if app_token is None or not app_token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid app token")
        return app_token.user, app_token

    def authenticate_header(self, request):
        return self.keyword


class AppTokenScheme(OpenApiAuthenticationExtension):
    target_class = "cards.authentication.AppTokenAuthentication"
    name = "FlashAppToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Flash app token (POST /api/app/v1/auth/token)"}
