"""The OpenAPI schema of the invoice endpoints: Greenfield operation ids, Greenfield enum names, no warnings."""
from django.urls import include, path

from tests.openapi import operation_ids, schema_without_warnings

urlpatterns = [path("", include("flashpay.accounts.urls")), path("", include("invoices.urls"))]

GREENFIELD_OPERATIONS = {
    ("/api/v1/stores/{storeId}/invoices", "get"): "Invoices_GetInvoices",
    ("/api/v1/stores/{storeId}/invoices", "post"): "Invoices_CreateInvoice",
    ("/api/v1/invoices/{invoiceId}", "get"): "Invoices_GetInvoice",
    ("/api/v1/invoices/{invoiceId}", "put"): "Invoices_UpdateInvoice",
    ("/api/v1/invoices/{invoiceId}", "delete"): "Invoices_ArchiveInvoice",
    ("/api/v1/invoices/{invoiceId}/payment-methods", "get"): "Invoices_GetInvoicePaymentMethods",
    ("/api/v1/invoices/{invoiceId}/status", "post"): "Invoices_MarkInvoiceStatus",
    ("/api/v1/invoices/{invoiceId}/unarchive", "post"): "Invoices_UnarchiveInvoice",
    ("/api/v1/invoices/{invoiceId}/payment-methods/{paymentMethodId}/activate", "post"): "Invoices_ActivatePaymentMethod",
    ("/api/v1/stores/{storeId}/payment-methods", "get"): "StorePaymentMethods_GetStorePaymentMethods",
    ("/api/v1/stores/{storeId}/payment-methods/{paymentMethodId}", "get"): "StorePaymentMethods_GetStorePaymentMethod",
    ("/api/v1/stores/{storeId}/payment-methods/{paymentMethodId}", "put"): "StorePaymentMethods_UpdateStorePaymentMethod",
    ("/api/v1/stores/{storeId}/payment-methods/{paymentMethodId}", "delete"): "StorePaymentMethods_DeleteStorePaymentMethod",
    ("/api/v1/stores/{storeId}/payment-methods/{paymentMethodId}/wallet/preview", "get"): "StoreOnChainPaymentMethods_GetOnChainPaymentMethodPreview",
    ("/api/v1/stores/{storeId}/payment-methods/{paymentMethodId}/wallet/preview", "post"): "StoreOnChainPaymentMethods_POSTOnChainPaymentMethodPreview",
    ("/api/v1/server/info", "get"): "ServerInfo_GetServerInfo",
    ("/misc/rate-sources", "get"): "GetRateSources",
    ("/api/v1/stores/{storeId}/rates", "get"): "Stores_GetStoreRates",
    ("/api/v1/stores/{storeId}/rates/configuration/{rateSource}", "get"): "Stores_GetStoreRateConfiguration",
    ("/api/v1/stores/{storeId}/rates/configuration/{rateSource}", "put"): "Stores_UpdateStoreRateConfiguration",
    ("/api/v1/stores/{storeId}/rates/configuration/preview", "post"): "Stores_PreviewStoreRateConfiguration",
}


def test_invoice_schema_follows_greenfield_without_warnings():
    schema = schema_without_warnings(urlpatterns)
    found = operation_ids(schema)
    assert GREENFIELD_OPERATIONS.items() <= found.items()
    # the store-path twins have their own ids, so ids stay unique
    assert len(set(found.values())) == len(found)
    components = schema["components"]["schemas"]
    assert components["InvoiceStatus"]["enum"] == ["New", "Processing", "Expired", "Invalid", "Settled"]
    assert {"id", "storeId", "amount", "paidAmount", "checkoutLink", "status", "additionalStatus", "monitoringExpiration"} <= set(
        components["InvoiceData"]["properties"]
    )


def test_the_btcpay_1x_paths_stay_out_of_the_schema():
    schema = schema_without_warnings(urlpatterns)
    legacy = [p for p in schema["paths"] if any(name in p for name in ("OnChain", "onchain", "LightningNetwork", "LNURL"))]
    assert legacy == []
    # the 2.x path documents BTCPay's other spellings
    parameters = schema["paths"]["/api/v1/stores/{storeId}/payment-methods/{paymentMethodId}"]["get"]["parameters"]
    assert "BTC_LN" in next(p for p in parameters if p["name"] == "paymentMethodId")["description"]
    # the store's payment method fields are typed
    store = schema["components"]["schemas"]["StoreData"]["properties"]
    assert store["paymentMethodCriteria"]["type"] == "array"
