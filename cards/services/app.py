"""Writes for the Flash app: cardholder tokens and limits a cardholder sets on their own card."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from cards.models import AppToken, Card
from cards.selectors import app_token_hash
from cards.services import card_update
from flashpay.errors import ApplicationError, FieldError


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


def card_limits_set_by_holder(*, card: Card, per_transaction_limit_msat: int, daily_limit_msat: int, user) -> Card:
    """The holder's own limits, within the program maximums (CARD_APP_MAX_*)."""
    if per_transaction_limit_msat > settings.CARD_APP_MAX_PER_TRANSACTION_MSAT:
        raise FieldError(
            "per_transaction_limit_msat",
            f"cannot exceed the program maximum of {settings.CARD_APP_MAX_PER_TRANSACTION_MSAT} msat",
        )
    if daily_limit_msat > settings.CARD_APP_MAX_DAILY_MSAT:
        raise FieldError("daily_limit_msat", f"cannot exceed the program maximum of {settings.CARD_APP_MAX_DAILY_MSAT} msat")
    return card_update(
        card=card,
        name=card.name,
        holder=card.holder,
        per_transaction_limit_msat=per_transaction_limit_msat,
        daily_limit_msat=daily_limit_msat,
        actor=user,
    )
