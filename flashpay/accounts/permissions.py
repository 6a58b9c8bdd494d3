"""Greenfield permission checks for every API endpoint, store-scoped or not.

How to use it in an APIView (any app)::

    from flashpay.accounts import policies
    from flashpay.accounts.permissions import GreenfieldPermission, greenfield_permission

    class InvoiceListApi(APIView):
        permission_classes = [GreenfieldPermission]

        @greenfield_permission(policies.CAN_VIEW_INVOICES)
        def get(self, request, storeId: str): ...

or set the class attribute ``greenfield_permission = policies.CAN_VIEW_INVOICES`` for all methods.
To serve several operations on one path (GET/PUT/DELETE /stores/{storeId}) write one APIView per
operation and join them: ``class StoreDetailApi(StoreGetApi, StoreUpdateApi, StoreDeleteApi): pass``;
each handler carries its own ``@greenfield_permission``.

The check (BTCPay's): the caller must be authenticated (401 otherwise); when the URL has a
``storeId`` the API key must grant the policy on that store (unscoped or ``:<storeId>``) AND the
user's role there must grant it. A store that does not exist and a store the caller has no rights
on both answer 403 ``missing-permission``, so ids of other merchants' stores cannot be probed.
Without ``storeId`` in the URL a store policy only needs the key to hold it for some store: list
endpoints then filter with ``store_list_for_principal``; an endpoint that acts on a store given
elsewhere (e.g. the flat ``/api/v1/invoices/{invoiceId}``) calls ``require_permission(request=...,
policy=..., store_id=invoice.store_id)`` itself. Basic and session authentication count as
``unrestricted`` (still limited by the user's roles).
"""
from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from flashpay.accounts import policies
from flashpay.accounts.models import APIKey
from flashpay.accounts.policies import PermissionSet
from flashpay.accounts.selectors import principal_has_permission


class MissingPermission(exceptions.PermissionDenied):
    greenfield_code = "missing-permission"

    def __init__(self, policy: str):
        super().__init__(
            f"Insufficient API Permissions. Please use an API key with permission: {policy}"
        )


def greenfield_permission(policy: str) -> Callable:
    """Decorate an APIView handler with the Greenfield policy it needs."""
    if policy not in policies.ALL_POLICIES:
        raise ImproperlyConfigured(f"Unknown Greenfield policy {policy!r}")

    def decorate(handler: Callable) -> Callable:
        handler.greenfield_permission = policy
        return handler

    return decorate


def request_permission_set(request) -> PermissionSet:
    """The permissions a request carries: its API key's, or unrestricted for a password/session."""
    if isinstance(request.auth, APIKey):
        return PermissionSet.from_strings(request.auth.permissions)
    if request.user and request.user.is_authenticated:
        return PermissionSet.unrestricted()
    return PermissionSet([])


def has_permission(*, request, policy: str, store_id: str | None = None) -> bool:
    if not (request.user and request.user.is_authenticated):
        return False
    return principal_has_permission(
        user=request.user,
        permission_set=request_permission_set(request),
        policy=policy,
        store_id=store_id,
    )


def require_permission(*, request, policy: str, store_id: str | None = None) -> None:
    """Raise 401/403 unless the request may use ``policy`` (on ``store_id`` if given)."""
    if not (request.user and request.user.is_authenticated):
        raise exceptions.NotAuthenticated()
    if not has_permission(request=request, policy=policy, store_id=store_id):
        raise MissingPermission(policy)


class GreenfieldPermission(BasePermission):
    """Reads the handler's (or view's) ``greenfield_permission`` and ``storeId`` from the URL."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False  # DRF answers 401 because authenticators are configured
        handler = getattr(view, request.method.lower(), None)
        policy = getattr(handler, "greenfield_permission", None) or getattr(
            view, "greenfield_permission", None
        )
        if policy is None:
            if request.method == "OPTIONS":
                return True
            raise ImproperlyConfigured(f"{type(view).__name__} has no greenfield_permission")
        store_id = view.kwargs.get("storeId")
        if store_id is None and policies.is_store_policy(policy):
            if request_permission_set(request).store_scopes(policy) == set():
                raise MissingPermission(policy)
            return True
        require_permission(request=request, policy=policy, store_id=store_id)
        return True
