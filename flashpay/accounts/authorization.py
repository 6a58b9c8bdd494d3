"""BTCPay's interactive API-key authorization (``/api-keys/authorize``): what an application asks, what a user may grant.

An application (the WooCommerce plugin's "generate API key" button) sends the user to
``/api-keys/authorize?permissions=...&permissions=...&applicationName=...&strict=true&selectiveStores=true&redirect=...``.
The user signs in, picks a store when ``selectiveStores`` is true, and confirms; the key is made
with exactly the permissions granted and, with ``redirect``, POSTed back to the application as
BTCPay does it (UIManageController.APIKeys.cs, PostRedirect): form fields ``apiKey``, ``userId``
and one ``permissions[]`` per permission.

Rules (BTCPay's, with one more: a key never holds more than its user has):

- permission strings that name no policy are left out (BTCPay filters them the same way);
- ``strict`` (default true): the user takes all requested permissions or none; otherwise the
  user may leave some out (never add one);
- ``selectiveStores``: store permissions are granted on the one store the user picks, as
  ``<policy>:<storeId>``; otherwise on all the user's stores (unscoped);
- server permissions only for a server administrator; a store permission on a picked store only
  if the user's role there grants it;
- ``redirect`` must be an absolute http(s) URL; it is shown to the user before anything is sent.
- ``applicationIdentifier`` lets BTCPay hand back an existing matching key; FlashPay keeps only
  the hash of a key's secret, so it cannot hand one back and always makes a new key.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from flashpay.accounts import policies
from flashpay.errors import ApplicationError

MAX_APPLICATION_NAME = 200
MAX_REDIRECT = 2000
MAX_PERMISSIONS = 100

# What each policy lets an application do, as the consent page says it.
TITLES = {
    policies.UNRESTRICTED: "Everything your account can do",
    policies.CAN_MODIFY_STORE_SETTINGS: "Manage the store: settings, wallets, users and everything below",
    policies.CAN_VIEW_STORE_SETTINGS: "View the store's settings",
    policies.CAN_MODIFY_WEBHOOKS: "Create and change the store's webhooks",
    policies.CAN_VIEW_INVOICES: "View invoices",
    policies.CAN_CREATE_INVOICE: "Create invoices",
    policies.CAN_MODIFY_INVOICES: "View, create and change invoices (mark them paid or invalid, archive)",
    policies.CAN_VIEW_PAYMENT_REQUESTS: "View payment requests",
    policies.CAN_MODIFY_PAYMENT_REQUESTS: "Create and change payment requests",
    policies.CAN_CREATE_NON_APPROVED_PULL_PAYMENTS: "Create refunds and pull payments that wait for approval",
    policies.CAN_CREATE_PULL_PAYMENTS: "Create pull payments",
    policies.CAN_MANAGE_PULL_PAYMENTS: "Manage pull payments",
    policies.CAN_VIEW_PULL_PAYMENTS: "View pull payments",
    policies.CAN_MANAGE_PAYOUTS: "Manage payouts",
    policies.CAN_VIEW_PAYOUTS: "View payouts",
    policies.CAN_USE_LIGHTNING_NODE_IN_STORE: "Use the store's Lightning node",
    policies.CAN_VIEW_REPORTS: "View reports",
    policies.CAN_VIEW_WALLET: "View the store's wallet",
    policies.CAN_MANAGE_WALLETS: "Manage the store's wallets",
    policies.CAN_VIEW_PROFILE: "View your profile",
    policies.CAN_MODIFY_PROFILE: "Change your profile",
    policies.CAN_MODIFY_SERVER_SETTINGS: "Change the server's settings (administrators)",
}


class AuthorizationRequestError(ApplicationError):
    code = "invalid-authorization-request"
    status_code = 400


@dataclass(frozen=True)
class AuthorizationRequest:
    """What the application asked for, read from the query string (and read again on POST)."""

    permissions: tuple[str, ...]  # valid policies, in the order asked, each once
    ignored: tuple[str, ...]  # what named no policy
    application_name: str
    application_identifier: str
    strict: bool
    selective_stores: bool
    redirect: str | None

    @property
    def store_permissions(self) -> tuple[str, ...]:
        return tuple(p for p in self.permissions if policies.is_store_policy(p))

    @property
    def redirect_host(self) -> str | None:
        return urlsplit(self.redirect).netloc if self.redirect else None

    @property
    def redirect_is_plain_http(self) -> bool:
        return bool(self.redirect) and urlsplit(self.redirect).scheme == "http"


def _flag(params, name: str, default: bool) -> bool:
    raw = (params.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("true", "1"):
        return True
    if raw in ("false", "0"):
        return False
    raise AuthorizationRequestError(f"{name} must be true or false")


def _redirect(text: str) -> str | None:
    text = (text or "").strip()
    if not text:
        return None
    parts = urlsplit(text)
    if len(text) > MAX_REDIRECT or parts.scheme not in ("http", "https") or not parts.hostname:
        raise AuthorizationRequestError("redirect must be an absolute http:// or https:// URL")
    return text


def authorization_request_parse(params) -> AuthorizationRequest:
    """Read ``permissions`` (repeated), ``applicationName``, ``applicationIdentifier``, ``strict``,
    ``selectiveStores`` and ``redirect`` from a QueryDict; AuthorizationRequestError (400) if unusable."""
    asked = params.getlist("permissions")
    if len(asked) > MAX_PERMISSIONS:
        raise AuthorizationRequestError(f"At most {MAX_PERMISSIONS} permissions")
    valid: list[str] = []
    ignored: list[str] = []
    for text in asked:
        policy = text.strip().lower()
        if policy in policies.ALL_POLICIES:
            if policy not in valid:
                valid.append(policy)
        else:
            ignored.append(text[:100])
    name = (params.get("applicationName") or "").strip()
    if len(name) > MAX_APPLICATION_NAME:
        raise AuthorizationRequestError(f"applicationName must be at most {MAX_APPLICATION_NAME} characters")
    return AuthorizationRequest(
        permissions=tuple(valid),
        ignored=tuple(ignored),
        application_name=name,
        application_identifier=(params.get("applicationIdentifier") or "").strip()[:200],
        strict=_flag(params, "strict", True),
        selective_stores=_flag(params, "selectiveStores", False),
        redirect=_redirect(params.get("redirect") or ""),
    )


def permission_title(policy: str) -> str:
    return TITLES.get(policy, policy)
