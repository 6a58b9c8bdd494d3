"""Greenfield routes of the invoices app: store payment methods and invoices (store and flat paths)."""
from django.urls import path, re_path, register_converter
from drf_spectacular.utils import extend_schema, extend_schema_view

from invoices.apis import invoices as inv
from invoices.apis import legacy_paths as legacy
from invoices.apis import lnurl, rates, server
from invoices.apis import payment_methods as pm


def _store_variant(view, name: str, **operation_ids):
    """The same view under /stores/{storeId}/invoices/...; distinct operation ids keep the schema clean."""
    return extend_schema_view(
        **{method: extend_schema(operation_id=op, parameters=[inv.STORE_ID]) for method, op in operation_ids.items()}
    )(type(name, (view,), {}))


StoreInvoiceDetailApi = _store_variant(
    inv.InvoiceDetailApi, "StoreInvoiceDetailApi",
    get="Invoices_GetStoreInvoice", put="Invoices_UpdateStoreInvoice", delete="Invoices_ArchiveStoreInvoice",
)
StoreInvoicePaymentMethodsApi = _store_variant(
    inv.InvoicePaymentMethodsApi, "StoreInvoicePaymentMethodsApi", get="Invoices_GetStoreInvoicePaymentMethods"
)
StoreInvoiceMarkStatusApi = _store_variant(
    inv.InvoiceMarkStatusApi, "StoreInvoiceMarkStatusApi", post="Invoices_MarkStoreInvoiceStatus"
)
StoreInvoicePaymentMethodActivateApi = _store_variant(
    inv.InvoicePaymentMethodActivateApi, "StoreInvoicePaymentMethodActivateApi",
    post="Invoices_ActivateStoreInvoicePaymentMethod",
)
StoreInvoiceUnarchiveApi = _store_variant(
    inv.InvoiceUnarchiveApi, "StoreInvoiceUnarchiveApi", post="Invoices_UnarchiveStoreInvoice"
)

_STORE = "api/v1/stores/<str:storeId>"
_STORE_RE = r"^api/v1/stores/(?P<storeId>[^/]+)"
register_converter(legacy.OnchainConverter, "onchain")


def _any_case(word: str) -> str:
    """``LNURL`` -> ``[Ll][Nn][Uu][Rr][Ll]``: ASP.NET matches literal segments without regard to case
    (an inline ``(?i)`` flag would stop Django from reversing any URL)."""
    return "".join(f"[{c.upper()}{c.lower()}]" for c in word)


_LN = _any_case("LightningNetwork")

urlpatterns = [
    # BTCPay 1.x paths, as BTCPay 2.x maps them (invoices/apis/legacy_paths.py)
    path(
        f"{_STORE}/payment-methods/<onchain:paymentMethodId>",
        legacy.without_schema(pm.StorePaymentMethodDetailApi).as_view(),
    ),
    path(
        f"{_STORE}/payment-methods/<onchain:paymentMethodId>/preview",
        legacy.without_schema(pm.OnchainPreviewApi).as_view(),
    ),
    path(
        f"{_STORE}/payment-methods/<onchain:paymentMethodId>/wallet/preview",
        legacy.without_schema(pm.OnchainPreviewApi).as_view(),
    ),
    re_path(rf"{_STORE_RE}/payment-methods/(?:{_LN}|{_any_case('LNURL')})$", legacy.UnsupportedInV2ListApi.as_view()),
    re_path(
        rf"{_STORE_RE}/payment-methods/(?:{_LN}|{_any_case('LNURLPay')})/(?P<cryptoCode>[^/]+)$",
        legacy.UnsupportedInV2Api.as_view(),
    ),
    path("api/v1/server/info", server.ServerInfoApi.as_view(), name="server-info"),
    path("misc/rate-sources", rates.RateSourcesApi.as_view(), name="misc-rate-sources"),
    path(f"{_STORE}/rates", rates.StoreRatesApi.as_view(), name="store-rates"),
    path(f"{_STORE}/rates/configuration", rates.RateConfigurationAliasApi.as_view()),
    path(f"{_STORE}/rates/configuration/preview", rates.RateConfigurationPreviewApi.as_view(), name="store-rates-preview"),
    path(f"{_STORE}/rates/configuration/<str:rateSource>", rates.RateConfigurationApi.as_view(), name="store-rates-configuration"),
    path(f"{_STORE}/payment-methods", pm.StorePaymentMethodListApi.as_view(), name="store-payment-methods"),
    path(
        f"{_STORE}/payment-methods/<str:paymentMethodId>",
        pm.StorePaymentMethodDetailApi.as_view(),
        name="store-payment-method",
    ),
    path(
        f"{_STORE}/payment-methods/<str:paymentMethodId>/wallet/preview",
        pm.OnchainPreviewApi.as_view(),
        name="store-onchain-preview",
    ),
    path(f"{_STORE}/invoices", inv.InvoicesApi.as_view(), name="store-invoices"),
    path(f"{_STORE}/invoices/<str:invoiceId>", StoreInvoiceDetailApi.as_view(), name="store-invoice"),
    path(
        f"{_STORE}/invoices/<str:invoiceId>/payment-methods",
        StoreInvoicePaymentMethodsApi.as_view(),
        name="store-invoice-payment-methods",
    ),
    path(
        f"{_STORE}/invoices/<str:invoiceId>/payment-methods/<str:paymentMethodId>/activate",
        StoreInvoicePaymentMethodActivateApi.as_view(),
        name="store-invoice-payment-method-activate",
    ),
    path(f"{_STORE}/invoices/<str:invoiceId>/status", StoreInvoiceMarkStatusApi.as_view(), name="store-invoice-status"),
    path(
        f"{_STORE}/invoices/<str:invoiceId>/unarchive",
        StoreInvoiceUnarchiveApi.as_view(),
        name="store-invoice-unarchive",
    ),
    path("api/v1/invoices/<str:invoiceId>", inv.InvoiceDetailApi.as_view(), name="invoice"),
    path(
        "api/v1/invoices/<str:invoiceId>/payment-methods",
        inv.InvoicePaymentMethodsApi.as_view(),
        name="invoice-payment-methods",
    ),
    path(
        "api/v1/invoices/<str:invoiceId>/payment-methods/<str:paymentMethodId>/activate",
        inv.InvoicePaymentMethodActivateApi.as_view(),
        name="invoice-payment-method-activate",
    ),
    path("api/v1/invoices/<str:invoiceId>/status", inv.InvoiceMarkStatusApi.as_view(), name="invoice-status"),
    path("api/v1/invoices/<str:invoiceId>/unarchive", inv.InvoiceUnarchiveApi.as_view(), name="invoice-unarchive"),
    # LNURL-pay (LUD-06) of an invoice: public, like the checkout page
    path("lnurlp/i/<str:invoiceId>", lnurl.LnurlPayRequestApi.as_view(), name="invoice-lnurlp"),
    path("lnurlp/i/<str:invoiceId>/callback", lnurl.LnurlCallbackApi.as_view(), name="invoice-lnurlp-callback"),
]
