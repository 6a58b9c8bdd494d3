"""Reads behind Greenfield's ``GET /api/v1/server/info``: the version plugins test, the payment methods, sync state.

The version is the BTCPay version whose Greenfield API FlashPay answers like, and plugins read
features off it. The WooCommerce plugin (GreenfieldApiHelper::serverSupportsRefunds and its
settings page) offers refunds from BTCPay 1.7.6 on, when it also holds a key with
``btcpay.store.cancreatenonapprovedpullpayments``, and then calls ``POST .../invoices/{id}/refund``.
So the version says 2.x (FlashPay's ids and paths are 2.x's) only once that endpoint is served;
until then it says 1.7.5, the last version without refunds, and the plugin hides its refund
button instead of offering one that fails.
"""
from __future__ import annotations

from django.urls import Resolver404, resolve

from flashpay.payment_method_ids import PaymentMethodId
from invoices.onchain.selectors import onchain_sync_status

# The Greenfield fragments FlashPay follows (shared/greenfield: BTCPay v2.4.1).
GREENFIELD_VERSION = "2.4.1"
VERSION_WITHOUT_REFUNDS = "1.7.5"


def invoice_refunds_served() -> bool:
    """Whether ``POST /api/v1/stores/{storeId}/invoices/{invoiceId}/refund`` is routed."""
    try:
        resolve("/api/v1/stores/s/invoices/i/refund")
    except Resolver404:
        return False
    return True


def server_version() -> str:
    return GREENFIELD_VERSION if invoice_refunds_served() else VERSION_WITHOUT_REFUNDS


def server_info_data() -> dict:
    """Greenfield ``ApplicationServerInfoData``."""
    statuses = [onchain_sync_status()]
    return {
        "version": server_version(),
        # BTCPay's OnionUrl: null on a server not reachable over Tor
        "onion": None,
        "supportedPaymentMethods": list(PaymentMethodId.values),
        "fullySynched": all(status["available"] for status in statuses),
        "syncStatus": statuses,
    }
