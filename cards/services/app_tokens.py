"""Flash app sign-in: bearer tokens for cardholders (stored only as hashes), issued and revoked."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.utils import timezone

from cards.models import AppToken
from cards.selectors import app_token_hash
from flashpay.errors import ApplicationError


class LoginFailed(ApplicationError):
    code = "invalid-credentials"
    status_code = 401


@dataclass(frozen=True)
class AppTokenIssued:
    app_token: AppToken
    token: str  # shown once


def app_token_issue(*, username: str, password: str, label: str = "") -> AppTokenIssued:
    """Log a cardholder in with username (or e-mail) and password and issue an app token."""
    from flashpay.accounts.selectors import user_get_for_login

    user = user_get_for_login(login=username)
    if user is None:
        make_password(password)  # an unknown login takes as long as a wrong password
        raise LoginFailed("wrong username or password")
    if not user.check_password(password) or not user.is_active:
        raise LoginFailed("wrong username or password")
    token = secrets.token_urlsafe(32)
    app_token = AppToken(user=user, token_hash=app_token_hash(token), label=label[:100])
    app_token.full_clean(validate_unique=False)
    app_token.save(force_insert=True)
    return AppTokenIssued(app_token=app_token, token=token)


def app_token_revoke(*, app_token: AppToken) -> AppToken:
    app_token.revoked_at = timezone.now()
    app_token.save(update_fields=["revoked_at"])
    return app_token
