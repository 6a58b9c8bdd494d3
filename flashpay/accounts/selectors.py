"""Reads about users, stores, memberships and API keys, and the store permission check."""
from __future__ import annotations

import hashlib

from django.db.models import QuerySet

from flashpay.accounts import policies
from flashpay.accounts.models import APIKey, Store, StoreMember, User
from flashpay.accounts.policies import PermissionSet
from flashpay.accounts.sql import API_KEY_BY_HASH, STORE_BY_ID, store_member_role
from flashpay.errors import NotFound


def api_key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_get_by_secret(*, secret: str) -> APIKey | None:
    """Find a key by the hash of its secret.

    Looking up the SHA-256 rather than comparing secrets means no comparison ever runs on the
    secret itself, so response timing reveals nothing about it.
    """
    return API_KEY_BY_HASH.first([api_key_hash(secret)])


RECEIPT_OPTIONS = ("enabled", "showQR", "showPayments")


def receipt_options(*levels: dict | None) -> dict[str, bool]:
    """Greenfield ``ReceiptOptions`` with every value set: the first level that sets an option
    (an invoice's, then its store's) wins, else BTCPay's default, true (``ReceiptOptions.Merge``)."""
    merged = dict.fromkeys(RECEIPT_OPTIONS, True)
    for level in reversed(levels):
        if isinstance(level, dict):
            merged.update({key: bool(level[key]) for key in RECEIPT_OPTIONS if level.get(key) is not None})
    return merged


def store_get(*, store_id: str) -> Store:
    store = STORE_BY_ID.first([store_id])
    if store is None:
        raise NotFound("Store not found", code="store-not-found")
    return store


def user_store_role(*, user: User, store_id: str) -> str | None:
    # One column of a unique (store, user) row, on every store-scoped API request.
    return store_member_role(store_id=store_id, user_id=user.pk)


def user_store_permissions(*, user: User, store_id: str) -> frozenset[str]:
    """Every store policy the user's role grants in this store (empty if not a member)."""
    if not user.is_active:
        return frozenset()
    role = user_store_role(user=user, store_id=store_id)
    return policies.role_policies(role) if role else frozenset()


def principal_has_permission(
    *, user: User, permission_set: PermissionSet, policy: str, store_id: str | None = None
) -> bool:
    """Whether a request (a user plus the permissions of its key) may use ``policy``.

    BTCPay's rule: a key only narrows its user's rights. A store policy needs both the key's
    permission for that store and the user's role there; a server policy needs a server admin.
    With ``store_id=None`` a store policy asks for the key's unscoped right (e.g. to create a store).
    """
    if not user.is_active or not permission_set.contains(policy, store_id):
        return False
    if policies.is_store_policy(policy):
        if store_id is None:
            return True
        return policy in user_store_permissions(user=user, store_id=store_id)
    if policies.is_server_policy(policy):
        return user.is_superuser
    return True


def store_list_for_principal(
    *, user: User, permission_set: PermissionSet, policy: str
) -> QuerySet[Store]:
    """Stores where the user's role grants ``policy`` and the key covers that store."""
    roles = [role for role in policies.ROLE_PERMISSIONS if policy in policies.role_policies(role)]
    stores = Store.objects.filter(memberships__user=user, memberships__role__in=roles)
    scopes = permission_set.store_scopes(policy)
    if scopes is not None:
        stores = stores.filter(pk__in=scopes)
    return stores.order_by("created_at", "id")


def store_member_list(*, store: Store) -> QuerySet[StoreMember]:
    return StoreMember.objects.filter(store=store).select_related("user").order_by("created_at", "id")


def user_get_by_id_or_email(*, id_or_email: str) -> User:
    """Greenfield's ``idOrEmail``: a numeric user id, otherwise an e-mail (case-insensitive)."""
    user = None
    if id_or_email.isdigit():
        user = User.objects.filter(pk=int(id_or_email)).first()
    if user is None and "@" in id_or_email:
        user = User.objects.filter(email__iexact=id_or_email).first()
    if user is None:
        raise NotFound("User not found", code="user-not-found")
    return user


def user_get_for_login(*, login: str) -> User | None:
    """The user a Basic-auth login names: a username, or else an e-mail address."""
    user = User.objects.filter(username=login).first()
    if user is None and "@" in login:
        user = User.objects.filter(email__iexact=login).first()
    return user
