"""Greenfield GET /api/v1/server/info: the version plugins test, payment methods and the chain's sync state."""
import pytest
from django.urls import path

from invoices.apis.server import ServerInfoApi
from invoices.onchain.services import onchain_sync_once
from invoices.server_info import GREENFIELD_VERSION, VERSION_WITHOUT_REFUNDS
from tests.factories import create_api_key, token_header
from tests.invoices.greenfield_schema import validate

pytestmark = pytest.mark.django_db


def _info(api_client, **headers):
    response = api_client.get("/api/v1/server/info", **headers)
    assert response.status_code == 200, response.content
    validate(response.json(), "ApplicationServerInfoData")
    return response.json()


def test_any_key_reads_it_and_sees_the_chain_synced_once_the_watcher_is_at_the_tip(api_client, nodes, bitcoind_client):
    _, secret = create_api_key(permissions=[])  # BTCPay asks for authentication only
    headers = token_header(secret)
    info = _info(api_client, **headers)
    assert info["supportedPaymentMethods"] == ["BTC-CHAIN", "BTC-LN", "BTC-LNURL"]
    assert info["onion"] is None
    [chain] = info["syncStatus"]
    assert (chain["paymentMethodId"], chain["syncHeight"], chain["available"]) == ("BTC-CHAIN", None, False)
    assert info["fullySynched"] is False  # the watcher has not followed the chain yet

    onchain_sync_once(client=bitcoind_client)
    info = _info(api_client, **headers)
    [chain] = info["syncStatus"]
    blocks = bitcoind_client.get_blockchain_info()["blocks"]
    assert chain["nodeInformation"] == {"headers": blocks, "blocks": blocks, "verificationProgress": 1.0}
    assert (chain["chainHeight"], chain["syncHeight"], chain["available"]) == (blocks, blocks, True)
    assert info["fullySynched"] is True


def test_a_node_that_does_not_answer_is_not_synced(api_client, settings, closed_port_url=None):
    settings.BITCOIND_URL = "http://127.0.0.1:9"
    settings.BITCOIND_RPCUSER, settings.BITCOIND_RPCPASSWORD = "u", "p"
    _, secret = create_api_key(permissions=[])
    info = _info(api_client, **token_header(secret))
    assert info["fullySynched"] is False
    assert info["syncStatus"][0]["nodeInformation"] is None


def test_anonymous_is_401(api_client):
    assert api_client.get("/api/v1/server/info").status_code == 401


def test_the_version_turns_on_the_woocommerce_refund_button_only_once_refunds_are_served(settings):
    from invoices import server_info

    # the WooCommerce plugin: refunds when version_compare(version, '1.7.6', '<') is false
    def plugin_offers_refunds(version):
        return tuple(int(p) for p in version.split(".")) >= (1, 7, 6)

    assert server_info.invoice_refunds_served() is False
    assert server_info.server_version() == VERSION_WITHOUT_REFUNDS
    assert not plugin_offers_refunds(server_info.server_version())

    settings.ROOT_URLCONF = __name__  # a URL map that routes the refund endpoint
    assert server_info.invoice_refunds_served() is True
    assert server_info.server_version() == GREENFIELD_VERSION
    assert plugin_offers_refunds(server_info.server_version())


urlpatterns = [path("api/v1/stores/<str:storeId>/invoices/<str:invoiceId>/refund", ServerInfoApi.as_view())]
