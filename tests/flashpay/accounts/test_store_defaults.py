"""Store fields come back with BTCPay 2.x's defaults and types, and requests merge as in BTCPay 2.x."""
import json

import pytest

from flashpay.accounts.models import Store
from tests.factories import UserFactory, create_api_key, token_header
from tests.invoices.greenfield_schema import property_names, validate

pytestmark = pytest.mark.django_db

# What BTCPay 2.4.1 shows for a store created with a name only (StoreBlob and StoreData defaults),
# but for the strings its official PHP client reads as strings (website, htmlTitle,
# defaultPaymentMethod), which BTCPay shows as null and FlashPay as a string.
BTCPAY_DEFAULTS = {
    "name": "Fresh",
    "website": "",
    "supportUrl": None,
    "logoUrl": None,
    "cssUrl": None,
    "paymentSoundUrl": None,
    "brandColor": None,
    "applyBrandColorToBackend": False,
    "defaultCurrency": "USD",
    "additionalTrackedRates": [],
    "invoiceExpiration": 900,
    "refundBOLT11Expiration": 30,
    "displayExpirationTimer": 300,
    "monitoringExpiration": 86400,
    "speedPolicy": "MediumSpeed",
    "lightningDescriptionTemplate": "Paid to {StoreName} (Order ID: {OrderId})",
    "paymentTolerance": 0,
    "archived": False,
    "anyoneCanCreateInvoice": False,
    "receipt": {"enabled": True, "showQR": True, "showPayments": True},
    "lightningAmountInSatoshi": False,
    "lightningPrivateRouteHints": False,
    "onChainWithLnInvoiceFallback": False,
    "redirectAutomatically": False,
    "showRecommendedFee": True,
    "recommendedFeeBlockTarget": 1,
    "defaultLang": "en",
    "htmlTitle": "",
    "networkFeeMode": "MultiplePaymentsOnly",
    "payJoinEnabled": False,
    "autoDetectLanguage": False,
    "showPayInWalletButton": True,
    "showStoreHeader": True,
    "celebratePayment": True,
    "playSoundOnPayment": False,
    "lazyPaymentMethods": False,
    "defaultPaymentMethod": "BTC-CHAIN",
    "paymentMethodCriteria": [],
}


@pytest.fixture
def owner_client(api_client):
    owner = UserFactory()
    _, secret = create_api_key(user=owner)
    headers = token_header(secret)

    def call(method, path="", body=None):
        return getattr(api_client, method)(f"/api/v1/stores{path}", body, format="json", **headers)

    return call


def test_a_new_store_has_btcpays_defaults_and_types(owner_client):
    response = owner_client("post", "", {"name": "Fresh"})
    assert response.status_code == 200, response.content
    body = response.json()
    validate(body, "StoreData")
    assert sorted(body) == sorted([*property_names("StoreData")])
    assert {k: v for k, v in body.items() if k != "id"} == BTCPAY_DEFAULTS
    # integral numbers are JSON integers (the PHP client's getPaymentTolerance(): int)
    assert '"paymentTolerance":0,' in response.content.decode().replace(" ", "")
    assert owner_client("get", f"/{body['id']}").json() == body
    validate(owner_client("get").json(), "StoreDataList")


def test_nulls_mean_the_default_on_create(owner_client):
    nulls = {key: None for key in BTCPAY_DEFAULTS if key != "name"}
    response = owner_client("post", "", {"name": "Fresh", **nulls})
    assert response.status_code == 200, response.content
    assert {k: v for k, v in response.json().items() if k != "id"} == BTCPAY_DEFAULTS


def test_put_keeps_what_is_left_out_or_null_and_changes_the_rest(owner_client):
    store_id = owner_client("post", "", {"name": "Shop", "website": "https://shop.example", "speedPolicy": "HighSpeed"}).json()["id"]
    response = owner_client("put", f"/{store_id}", {"website": None, "htmlTitle": "My shop", "paymentTolerance": 1.5})
    assert response.status_code == 200, response.content
    body = response.json()
    validate(body, "StoreData")
    assert (body["name"], body["website"], body["speedPolicy"]) == ("Shop", "https://shop.example", "HighSpeed")
    assert (body["htmlTitle"], body["paymentTolerance"]) == ("My shop", 1.5)


def test_lightning_description_template_is_never_null(owner_client):
    store_id = owner_client("post", "", {"name": "Shop", "lightningDescriptionTemplate": "Order {OrderId} at {StoreName}"}).json()["id"]
    assert owner_client("get", f"/{store_id}").json()["lightningDescriptionTemplate"] == "Order {OrderId} at {StoreName}"
    body = owner_client("put", f"/{store_id}", {"lightningDescriptionTemplate": ""}).json()
    assert body["lightningDescriptionTemplate"] == "Paid to {StoreName} (Order ID: {OrderId})"


def test_receipt_options_fall_back_to_true(owner_client):
    store_id = owner_client("post", "", {"name": "Shop", "receipt": {"showQR": False}}).json()["id"]
    assert owner_client("get", f"/{store_id}").json()["receipt"] == {"enabled": True, "showQR": False, "showPayments": True}
    assert Store.objects.get(pk=store_id).receipt == {"enabled": None, "showQR": False, "showPayments": None}
    body = owner_client("put", f"/{store_id}", {"receipt": {"enabled": False, "showQR": None}}).json()
    assert body["receipt"] == {"enabled": False, "showQR": True, "showPayments": True}


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"receipt": {"enabled": "maybe"}}, "receipt.enabled"),
        ({"receipt": "yes"}, "receipt"),
        ({"lightningDescriptionTemplate": ["x"]}, "lightningDescriptionTemplate"),
        ({"paymentTolerance": "lots"}, "paymentTolerance"),
    ],
)
def test_bad_values_are_400_and_change_nothing(owner_client, payload, path):
    created = owner_client("post", "", {"name": "Shop"}).json()
    response = owner_client("put", f"/{created['id']}", {"name": "Renamed", **payload})
    assert response.status_code == 400, response.content
    assert response.json()[0]["path"] == path
    assert owner_client("get", f"/{created['id']}").json() == created


def test_a_body_that_is_not_an_object_is_400(owner_client):
    response = owner_client("post", "", json.dumps(["name"]))
    assert response.status_code == 400
    assert not Store.objects.exists()
