"""DRF authentication for the Greenfield API: ``Authorization: token <key>`` and HTTP Basic; and
the Flash app's ``Authorization: Bearer <app token>`` (tokens the cards app keeps).

``request.auth`` is the ``APIKey`` for token authentication and ``BASIC_AUTH`` for a password;
``request_permission_set()`` in ``flashpay.accounts.permissions`` turns either into permissions.
"""
from __future__ import annotations

from django.contrib.auth.hashers import make_password
from django.utils.module_loading import import_string
from rest_framework import exceptions
from rest_framework.authentication import (
    BaseAuthentication,
    BasicAuthentication,
    get_authorization_header,
)

# Marks a request authenticated by password: Greenfield gives it the user's full ("unrestricted") rights.
BASIC_AUTH = "basic"


class APIKeyAuthentication(BaseAuthentication):
    """Greenfield API keys, sent as ``Authorization: token <key>``."""

    keyword = "token"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header; expected 'token <apikey>'")
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Malformed API key")
        if not 1 <= len(secret) <= 200:
            raise exceptions.AuthenticationFailed("Malformed API key")
        # Imported here: DRF loads this module while rest_framework.views (used by our models'
        # imports) is still initializing.
        from flashpay.accounts.selectors import api_key_get_by_secret

        api_key = api_key_get_by_secret(secret=secret)
        if api_key is None or not api_key.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid API key")
        return api_key.user, api_key

    def authenticate_header(self, request):
        return self.keyword


class BasicPasswordAuthentication(BasicAuthentication):
    """HTTP Basic with a username or e-mail and the user's password (full user rights)."""

    def authenticate_credentials(self, userid, password, request=None):
        from flashpay.accounts.selectors import user_get_for_login

        user = user_get_for_login(login=userid)
        if user is None:
            # Hash anyway so that an unknown login takes as long as a wrong password.
            make_password(password)
            raise exceptions.AuthenticationFailed("Invalid username or password")
        if not user.check_password(password) or not user.is_active:
            raise exceptions.AuthenticationFailed("Invalid username or password")
        return user, BASIC_AUTH


# The Flash app's tokens are the cards app's (it issues and stores them); it names the look-up
# here from CardsConfig.ready(), as apps register outbox handlers: the kernel imports no app.
_app_token_lookup = ""


def app_token_lookup_register(path: str) -> None:
    """Name ``f(*, token) -> (user, auth) | None``, the look-up of the Flash app's bearer tokens."""
    global _app_token_lookup
    _app_token_lookup = path


class AppTokenAuthentication(BaseAuthentication):
    """The Flash app's ``Authorization: Bearer <app token>``: its card endpoints (cards) and its
    rewards endpoints (rewards) accept the same tokens through this one class."""

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
        if not 20 <= len(token) <= 200 or not _app_token_lookup:
            raise exceptions.AuthenticationFailed("Invalid app token")
        found = import_string(_app_token_lookup)(token=token)
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid app token")
        return found

    def authenticate_header(self, request):
        return self.keyword
