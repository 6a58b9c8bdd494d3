"""Writes for stores, store members and API keys."""
from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.db.models import ProtectedError

from flashpay.accounts import policies
from flashpay.accounts.locks import store_lock
from flashpay.accounts.models import APIKey, Store, StoreMember, StoreRole, User
from flashpay.accounts.selectors import api_key_hash
from flashpay.errors import ApplicationError, Conflict, FieldError

# Store settings a caller may set, by model field name (Greenfield StoreBaseData minus name).
STORE_SETTING_FIELDS: tuple[str, ...] = tuple(
    f.name
    for f in Store._meta.concrete_fields
    if f.name not in {"id", "name", "created_at"}
)
# Greenfield rounds these durations down to whole minutes.
_MINUTE_ROUNDED_FIELDS = ("invoice_expiration", "display_expiration_timer", "monitoring_expiration")


def _apply_store_settings(store: Store, settings: dict[str, Any]) -> list[str]:
    unknown = set(settings) - set(STORE_SETTING_FIELDS)
    if unknown:
        raise FieldError(sorted(unknown)[0], "Unknown store setting")
    for field, value in settings.items():
        if field in _MINUTE_ROUNDED_FIELDS and isinstance(value, int):
            value -= value % 60
        elif field == "default_currency" and isinstance(value, str):
            value = value.upper()
        elif field == "additional_tracked_rates" and isinstance(value, list):
            value = [code.upper() for code in value if isinstance(code, str)]
        setattr(store, field, value)
    return list(settings)


@transaction.atomic
def store_create(*, user: User, name: str, settings: dict[str, Any] | None = None) -> Store:
    """Create a store and make its creator the Owner."""
    store = Store(name=name)
    _apply_store_settings(store, settings or {})
    store.full_clean()
    store.save(force_insert=True)
    member = StoreMember(store=store, user=user, role=StoreRole.OWNER)
    member.full_clean(validate_constraints=False)
    member.save(force_insert=True)
    return store


@transaction.atomic
def store_update(*, store: Store, name: str, settings: dict[str, Any] | None = None) -> Store:
    store = store_lock(store_id=store.pk)
    store.name = name
    fields = _apply_store_settings(store, settings or {})
    store.full_clean()
    store.save(update_fields=["name", *fields])
    return store


@transaction.atomic
def store_delete(*, store: Store) -> None:
    """Delete a store with its memberships.

    Rows that carry money (invoices, ledger accounts) reference stores with on_delete=PROTECT,
    so a store that has them is refused rather than taking its history with it.
    """
    store = store_lock(store_id=store.pk)
    try:
        store.delete()
    except ProtectedError:
        raise Conflict(
            "This store has payment records and cannot be deleted; archive it instead",
            code="store-in-use",
        )


def _validate_role(role: str, path: str) -> None:
    if role not in StoreRole.values:
        raise FieldError(path, f"Unknown role '{role}'; expected one of {', '.join(StoreRole.values)}")


def _owner_count(store: Store) -> int:
    return StoreMember.objects.filter(store=store, role=StoreRole.OWNER).count()


@transaction.atomic
def store_member_add(*, store: Store, user: User, role: str) -> StoreMember:
    _validate_role(role, "storeRole")
    store = store_lock(store_id=store.pk)
    if StoreMember.objects.filter(store=store, user=user).exists():
        raise Conflict("The user is already a member of this store", code="duplicate-store-user-role")
    member = StoreMember(store=store, user=user, role=role)
    member.full_clean(validate_constraints=False)
    member.save(force_insert=True)
    return member


@transaction.atomic
def store_member_update(*, store: Store, user: User, role: str) -> StoreMember:
    _validate_role(role, "storeRole")
    # The store lock serializes membership changes, so two owners cannot demote each other at once.
    store = store_lock(store_id=store.pk)
    member = StoreMember.objects.filter(store=store, user=user).first()
    if member is None:
        raise ApplicationError("The user is not a member of this store", code="user-not-found", status_code=404)
    if member.role == StoreRole.OWNER and role != StoreRole.OWNER and _owner_count(store) == 1:
        raise Conflict("The store would have no owner left", code="store-user-role-orphaned")
    member.role = role
    member.full_clean(validate_constraints=False)
    member.save(update_fields=["role"])
    return member


@transaction.atomic
def store_member_remove(*, store: Store, user: User) -> None:
    store = store_lock(store_id=store.pk)
    member = StoreMember.objects.filter(store=store, user=user).first()
    if member is None:
        raise ApplicationError("The user is not a member of this store", code="user-not-found", status_code=404)
    if member.role == StoreRole.OWNER and _owner_count(store) == 1:
        raise Conflict("The store would have no owner left", code="store-user-role-orphaned")
    member.delete()


def _normalize_permissions(permissions: list[str]) -> list[str]:
    out: list[str] = []
    for index, text in enumerate(permissions):
        try:
            permission = str(policies.Permission.parse(text))
        except ValueError as error:
            raise FieldError(f"permissions[{index}]", str(error))
        if permission not in out:
            out.append(permission)
    return out


def api_key_create(*, user: User, label: str = "", permissions: list[str]) -> tuple[APIKey, str]:
    """Create an API key; returns the key and its secret, which is not stored and never shown again.

    The secret is 20 random bytes in hex (40 characters), like BTCPay's keys.
    """
    secret = secrets.token_hex(20)
    api_key = APIKey(
        user=user,
        label=label or "",
        key_hash=api_key_hash(secret),
        permissions=_normalize_permissions(permissions),
    )
    api_key.full_clean()
    api_key.save(force_insert=True)
    return api_key, secret


def api_key_update(*, api_key: APIKey, label: str, permissions: list[str]) -> APIKey:
    api_key.label = label or ""
    api_key.permissions = _normalize_permissions(permissions)
    api_key.full_clean()
    api_key.save(update_fields=["label", "permissions"])
    return api_key


def api_key_delete(*, api_key: APIKey) -> None:
    """Revoke a key: the row goes, so the secret stops authenticating at once."""
    api_key.delete()


@transaction.atomic
def store_rate_settings_update(
    *, store: Store, spread_percent, source: str, fallback: bool = False
) -> Store:
    """Set the store's rate spread (shared by both sources, as in BTCPay) and its primary or
    fallback source ("" = the server's order). Setting the fallback enables it."""
    store = store_lock(store_id=store.pk)
    store.rate_spread = spread_percent
    field = "rate_fallback_source" if fallback else "rate_preferred_source"
    setattr(store, field, source)
    store.full_clean()
    store.save(update_fields=["rate_spread", field])
    return store


def api_key_authorize(
    *, user: User, request, granted: list[str], store_id: str | None
) -> tuple[APIKey, str]:
    """Make the key a user granted an application on the authorization page (``request`` is an
    ``authorization.AuthorizationRequest``); returns (key, secret).

    Raises ApplicationError, writing nothing, when the grant is not one the page offers: a
    permission the application did not ask for, fewer than all under ``strict``, a server
    permission for a user who is no server administrator, a store the user is not a member of, or
    a store permission the user's role there does not grant.
    """
    from flashpay.accounts.selectors import user_store_role

    granted = list(dict.fromkeys(granted))
    if not set(granted) <= set(request.permissions):
        raise FieldError("permissions", "Only the permissions the application asked for can be granted")
    if request.strict and set(granted) != set(request.permissions):
        raise FieldError("permissions", "This application needs every permission it asks for")
    missing = [p for p in granted if policies.is_server_policy(p) and not user.is_superuser]
    if missing:
        raise ApplicationError(
            f"Your account does not have {', '.join(missing)}", code="missing-permission", status_code=403
        )
    store_policies = [p for p in granted if policies.is_store_policy(p)]
    scope = None
    if store_policies and request.selective_stores:
        role = user_store_role(user=user, store_id=store_id) if store_id else None
        if role is None:
            raise FieldError("storeId", "Choose one of your stores")
        missing = [p for p in store_policies if p not in policies.role_policies(role)]
        if missing:
            raise ApplicationError(
                f"Your role in this store ({role}) does not allow {', '.join(missing)}",
                code="missing-permission",
                status_code=403,
            )
        scope = store_id
    permissions = [f"{p}:{scope}" if scope and policies.is_store_policy(p) else p for p in granted]
    return api_key_create(user=user, label=request.application_name or "API key", permissions=permissions)
