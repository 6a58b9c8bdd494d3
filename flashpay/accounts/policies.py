"""Greenfield permission strings, their implication tree, and the store roles built from them.

Follows BTCPay Server's ``BTCPayServer.Client.Policies``/``Permission`` (v2.x): a permission is a
policy optionally scoped to one store as ``<policy>:<storeId>``; only ``btcpay.store.*`` policies
may be scoped. A policy contains itself, its children (transitively) and ``unrestricted``
contains every policy.

Store roles are BTCPay 2.x's default roles (migration ``AddManagerAndEmployeeToStoreRoles`` and
``UpdateStoreOwnerRole``), kept as they are so that an integration sees the same 403s as on BTCPay:

- Owner: ``canmodifystoresettings`` (every store permission).
- Manager: view store settings, modify invoices, webhooks and payment requests, manage pull
  payments and payouts; no store settings changes and no user management.
- Employee: modify invoices and payment requests, create non-approved pull payments, view payouts
  and pull payments; cannot read the store settings.
- Guest: modify invoices (so also create and view them), view payment requests, pull payments and
  payouts.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

UNRESTRICTED = "unrestricted"

# Store policies (scopable with ":<storeId>").
CAN_MODIFY_STORE_SETTINGS = "btcpay.store.canmodifystoresettings"
CAN_VIEW_STORE_SETTINGS = "btcpay.store.canviewstoresettings"
CAN_MODIFY_WEBHOOKS = "btcpay.store.webhooks.canmodifywebhooks"
CAN_VIEW_REPORTS = "btcpay.store.canviewreports"
CAN_VIEW_INVOICES = "btcpay.store.canviewinvoices"
CAN_CREATE_INVOICE = "btcpay.store.cancreateinvoice"
CAN_MODIFY_INVOICES = "btcpay.store.canmodifyinvoices"
CAN_VIEW_PAYMENT_REQUESTS = "btcpay.store.canviewpaymentrequests"
CAN_MODIFY_PAYMENT_REQUESTS = "btcpay.store.canmodifypaymentrequests"
CAN_USE_LIGHTNING_NODE_IN_STORE = "btcpay.store.canuselightningnode"
CAN_VIEW_LIGHTNING_INVOICE_IN_STORE = "btcpay.store.canviewlightninginvoice"
CAN_CREATE_LIGHTNING_INVOICE_IN_STORE = "btcpay.store.cancreatelightninginvoice"
CAN_MANAGE_PULL_PAYMENTS = "btcpay.store.canmanagepullpayments"
CAN_ARCHIVE_PULL_PAYMENTS = "btcpay.store.canarchivepullpayments"
CAN_CREATE_PULL_PAYMENTS = "btcpay.store.cancreatepullpayments"
CAN_CREATE_NON_APPROVED_PULL_PAYMENTS = "btcpay.store.cancreatenonapprovedpullpayments"
CAN_VIEW_PULL_PAYMENTS = "btcpay.store.canviewpullpayments"
CAN_MANAGE_PAYOUTS = "btcpay.store.canmanagepayouts"
CAN_VIEW_PAYOUTS = "btcpay.store.canviewpayouts"
CAN_MODIFY_OFFERINGS = "btcpay.store.canmodifyofferings"
CAN_VIEW_OFFERINGS = "btcpay.store.canviewofferings"
CAN_MANAGE_WALLETS = "btcpay.store.canmanagewallets"
CAN_MANAGE_WALLET_SETTINGS = "btcpay.store.canmanagewalletsettings"
CAN_MANAGE_WALLET_TRANSACTIONS = "btcpay.store.canmanagewallettransactions"
CAN_CREATE_TRANSACTIONS = "btcpay.store.cancreatetransactions"
CAN_SIGN_TRANSACTIONS = "btcpay.store.cansigntransactions"
CAN_BROADCAST_TRANSACTIONS = "btcpay.store.canbroadcasttransactions"
CAN_CANCEL_TRANSACTIONS = "btcpay.store.cancanceltransactions"
CAN_VIEW_WALLET = "btcpay.store.canviewwallet"
CAN_SEND_STORE_EMAILS = "btcpay.store.cansendstoreemails"
CAN_MANAGE_SUBSCRIBERS = "btcpay.store.canmanagesubscribers"
CAN_CREDIT_SUBSCRIBERS = "btcpay.store.cancreditsubscribers"

# Server policies (effective only for server administrators).
CAN_MODIFY_SERVER_SETTINGS = "btcpay.server.canmodifyserversettings"
CAN_USE_INTERNAL_LIGHTNING_NODE = "btcpay.server.canuseinternallightningnode"
CAN_CREATE_LIGHTNING_INVOICE_INTERNAL_NODE = "btcpay.server.cancreatelightninginvoiceinternalnode"
CAN_VIEW_LIGHTNING_INVOICE_INTERNAL_NODE = "btcpay.server.canviewlightninginvoiceinternalnode"
CAN_MANAGE_USERS = "btcpay.server.canmanageusers"
CAN_CREATE_USER = "btcpay.server.cancreateuser"
CAN_VIEW_USERS = "btcpay.server.canviewusers"

# User policies (about the caller's own account).
CAN_MODIFY_PROFILE = "btcpay.user.canmodifyprofile"
CAN_VIEW_PROFILE = "btcpay.user.canviewprofile"
CAN_MANAGE_NOTIFICATIONS_FOR_USER = "btcpay.user.canmanagenotificationsforuser"
CAN_VIEW_NOTIFICATIONS_FOR_USER = "btcpay.user.canviewnotificationsforuser"
CAN_DELETE_USER = "btcpay.user.candeleteuser"

# Direct children of each policy; containment is the transitive closure (Permission.Init in BTCPay).
_CHILDREN: dict[str, tuple[str, ...]] = {
    CAN_MODIFY_STORE_SETTINGS: (
        CAN_MANAGE_PULL_PAYMENTS,
        CAN_MODIFY_INVOICES,
        CAN_VIEW_STORE_SETTINGS,
        CAN_MODIFY_WEBHOOKS,
        CAN_MODIFY_PAYMENT_REQUESTS,
        CAN_MANAGE_PAYOUTS,
        CAN_MODIFY_OFFERINGS,
        CAN_USE_LIGHTNING_NODE_IN_STORE,
        CAN_MANAGE_WALLETS,
        CAN_SEND_STORE_EMAILS,
        CAN_MANAGE_SUBSCRIBERS,
    ),
    CAN_MANAGE_USERS: (CAN_CREATE_USER, CAN_VIEW_USERS),
    CAN_MANAGE_PULL_PAYMENTS: (CAN_CREATE_PULL_PAYMENTS, CAN_ARCHIVE_PULL_PAYMENTS),
    CAN_CREATE_PULL_PAYMENTS: (CAN_CREATE_NON_APPROVED_PULL_PAYMENTS,),
    CAN_CREATE_NON_APPROVED_PULL_PAYMENTS: (CAN_VIEW_PULL_PAYMENTS,),
    CAN_MODIFY_PAYMENT_REQUESTS: (CAN_VIEW_PAYMENT_REQUESTS,),
    CAN_MODIFY_PROFILE: (CAN_VIEW_PROFILE,),
    CAN_MODIFY_OFFERINGS: (CAN_VIEW_OFFERINGS,),
    CAN_USE_LIGHTNING_NODE_IN_STORE: (
        CAN_VIEW_LIGHTNING_INVOICE_IN_STORE,
        CAN_CREATE_LIGHTNING_INVOICE_IN_STORE,
    ),
    CAN_MANAGE_NOTIFICATIONS_FOR_USER: (CAN_VIEW_NOTIFICATIONS_FOR_USER,),
    CAN_MODIFY_SERVER_SETTINGS: (CAN_USE_INTERNAL_LIGHTNING_NODE, CAN_MANAGE_USERS),
    CAN_USE_INTERNAL_LIGHTNING_NODE: (
        CAN_CREATE_LIGHTNING_INVOICE_INTERNAL_NODE,
        CAN_VIEW_LIGHTNING_INVOICE_INTERNAL_NODE,
    ),
    CAN_MODIFY_INVOICES: (CAN_VIEW_INVOICES, CAN_CREATE_INVOICE, CAN_CREATE_LIGHTNING_INVOICE_IN_STORE),
    CAN_VIEW_STORE_SETTINGS: (
        CAN_VIEW_INVOICES,
        CAN_VIEW_PAYMENT_REQUESTS,
        CAN_VIEW_REPORTS,
        CAN_VIEW_PULL_PAYMENTS,
        CAN_VIEW_PAYOUTS,
        CAN_VIEW_WALLET,
        CAN_VIEW_OFFERINGS,
    ),
    CAN_MANAGE_PAYOUTS: (CAN_VIEW_PAYOUTS,),
    # Wallet permissions of BTCPay 2.x: managing a wallet covers its settings and transactions.
    CAN_MANAGE_WALLETS: (CAN_MANAGE_WALLET_SETTINGS, CAN_MANAGE_WALLET_TRANSACTIONS, CAN_VIEW_WALLET),
    CAN_MANAGE_WALLET_TRANSACTIONS: (
        CAN_CREATE_TRANSACTIONS,
        CAN_SIGN_TRANSACTIONS,
        CAN_BROADCAST_TRANSACTIONS,
        CAN_CANCEL_TRANSACTIONS,
        CAN_VIEW_WALLET,
    ),
    CAN_MANAGE_SUBSCRIBERS: (CAN_CREDIT_SUBSCRIBERS,),
}

ALL_POLICIES: frozenset[str] = frozenset(
    {UNRESTRICTED, *_CHILDREN, *(child for children in _CHILDREN.values() for child in children)}
    | {CAN_DELETE_USER}
)
STORE_POLICIES: frozenset[str] = frozenset(p for p in ALL_POLICIES if p.startswith("btcpay.store."))


def is_store_policy(policy: str) -> bool:
    return policy.startswith("btcpay.store.")


def is_server_policy(policy: str) -> bool:
    return policy.startswith("btcpay.server.")


@cache
def implied_policies(policy: str) -> frozenset[str]:
    """Every policy that ``policy`` grants, itself included."""
    if policy == UNRESTRICTED:
        return ALL_POLICIES
    out = {policy}
    for child in _CHILDREN.get(policy, ()):
        out |= implied_policies(child)
    return frozenset(out)


def policy_contains(policy: str, subpolicy: str) -> bool:
    return subpolicy in implied_policies(policy)


@dataclass(frozen=True)
class Permission:
    """A policy, optionally scoped to one store (``scope`` is the store id)."""

    policy: str
    scope: str | None = None

    @classmethod
    def parse(cls, text: str) -> Permission:
        """Parse ``policy`` or ``policy:<storeId>``; raises ValueError with a readable reason."""
        if not isinstance(text, str):
            raise ValueError("A permission must be a string")
        text = text.strip()
        policy, sep, scope = text.partition(":")
        policy = policy.lower()
        if policy not in ALL_POLICIES:
            raise ValueError(f"Unknown permission '{policy}'")
        if sep:
            if not is_store_policy(policy):
                raise ValueError(f"Permission '{policy}' cannot be scoped to a store")
            if not scope:
                raise ValueError("The store id after ':' is empty")
            return cls(policy, scope)
        return cls(policy, None)

    def contains(self, policy: str, store_id: str | None = None) -> bool:
        """Whether this permission grants ``policy`` (on ``store_id`` for a store policy).

        ``store_id=None`` for a store policy asks for the unscoped right (e.g. creating a store).
        """
        if not policy_contains(self.policy, policy):
            return False
        if not is_store_policy(policy):
            return True
        return self.scope is None or (store_id is not None and self.scope == store_id)

    def __str__(self) -> str:
        return f"{self.policy}:{self.scope}" if self.scope else self.policy


class PermissionSet:
    """The permissions a request carries (an API key's list, or unrestricted for a password)."""

    def __init__(self, permissions: list[Permission] | tuple[Permission, ...]):
        self.permissions = tuple(permissions)

    @classmethod
    def from_strings(cls, permissions: list[str]) -> PermissionSet:
        parsed = []
        for text in permissions:
            try:
                parsed.append(Permission.parse(text))
            except ValueError:
                # A stored permission that no longer parses grants nothing, as in BTCPay.
                continue
        return cls(parsed)

    @classmethod
    def unrestricted(cls) -> PermissionSet:
        return cls([Permission(UNRESTRICTED)])

    def contains(self, policy: str, store_id: str | None = None) -> bool:
        return any(p.contains(policy, store_id) for p in self.permissions)

    def store_scopes(self, policy: str) -> set[str] | None:
        """Stores on which ``policy`` is granted: ``None`` means every store."""
        scopes: set[str] = set()
        for p in self.permissions:
            if policy_contains(p.policy, policy):
                if p.scope is None or not is_store_policy(policy):
                    return None
                scopes.add(p.scope)
        return scopes


# Store roles (BTCPay 2.x defaults, see the module docstring).
ROLE_OWNER = "Owner"
ROLE_MANAGER = "Manager"
ROLE_EMPLOYEE = "Employee"
ROLE_GUEST = "Guest"

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    ROLE_OWNER: (CAN_MODIFY_STORE_SETTINGS,),
    ROLE_MANAGER: (
        CAN_VIEW_STORE_SETTINGS,
        CAN_MODIFY_INVOICES,
        CAN_MODIFY_WEBHOOKS,
        CAN_MODIFY_PAYMENT_REQUESTS,
        CAN_MANAGE_PULL_PAYMENTS,
        CAN_MANAGE_PAYOUTS,
    ),
    ROLE_EMPLOYEE: (
        CAN_MODIFY_INVOICES,
        CAN_MODIFY_PAYMENT_REQUESTS,
        CAN_CREATE_NON_APPROVED_PULL_PAYMENTS,
        CAN_VIEW_PAYOUTS,
        CAN_VIEW_PULL_PAYMENTS,
    ),
    ROLE_GUEST: (
        CAN_MODIFY_INVOICES,
        CAN_VIEW_PAYMENT_REQUESTS,
        CAN_VIEW_PULL_PAYMENTS,
        CAN_VIEW_PAYOUTS,
    ),
}


@cache
def role_policies(role: str) -> frozenset[str]:
    """Every store policy a role grants, expanded through the implication tree."""
    out: set[str] = set()
    for policy in ROLE_PERMISSIONS.get(role, ()):
        out |= implied_policies(policy)
    return frozenset(out)


def permission_metadata() -> list[dict]:
    """BTCPay's ``/misc/permissions``: each policy (``unrestricted`` too) with every policy it
    includes besides itself, both sorted without regard to case."""
    return [
        {"name": policy, "included": sorted(implied_policies(policy) - {policy}, key=str.lower)}
        for policy in sorted(ALL_POLICIES, key=str.lower)
    ]
