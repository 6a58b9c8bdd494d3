"""The BTCPay 1.x payment-method paths: OnChain maps to BTC-CHAIN, Lightning and LNURL are 410 (as in BTCPay 2.x)."""
import pytest

from tests.invoices.conftest import vpub
from tests.invoices.greenfield_schema import validate

pytestmark = pytest.mark.django_db


def test_the_old_onchain_paths_map_to_btc_chain(store_calls):
    store, call = store_calls
    # BTCPay 2.x rewrites .../OnChain/{cryptoCode}{rest} to .../{cryptoCode}-CHAIN{rest}
    assert call("put", "/payment-methods/OnChain/BTC", {"enabled": True, "config": vpub()}).status_code == 200
    assert call("get", "/payment-methods/onchain/BTC").json() == {"enabled": True, "paymentMethodId": "BTC-CHAIN"}
    new = call("get", "/payment-methods/BTC-CHAIN/wallet/preview?count=2").json()
    # ... and .../OnChain/{cryptoCode}/preview to .../{cryptoCode}-CHAIN/wallet/preview
    assert call("get", "/payment-methods/OnChain/BTC/preview?count=2").json() == new
    assert call("get", "/payment-methods/Onchain/btc/wallet/preview?count=2").json() == new
    validate(new, "OnChainPaymentMethodPreviewResultData")
    assert call("get", "/payment-methods/onchain/LTC").status_code == 404
    assert call("get", "/payment-methods/OnChain/BTC", auth=False).status_code == 401
    assert call("delete", "/payment-methods/OnChain/BTC").status_code == 200
    assert call("get", "/payment-methods").json() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/payment-methods/LightningNetwork"),
        ("get", "/payment-methods/LightningNetwork/BTC"),
        ("put", "/payment-methods/lightningnetwork/BTC"),
        ("delete", "/payment-methods/LightningNetwork/BTC"),
        ("get", "/payment-methods/LNURL"),
        ("get", "/payment-methods/LNURLPay/BTC"),
        ("put", "/payment-methods/LNURLPay/BTC"),
    ],
)
def test_the_old_lightning_paths_are_gone_as_in_btcpay_2(store_calls, method, path):
    store, call = store_calls
    response = call(method, path, {"enabled": True, "config": "Internal Node"} if method == "put" else None)
    assert response.status_code == 410
    assert response.json()["code"] == "unsupported-in-v2"
    assert call(method, path, auth=False).status_code == 401
    assert not store.payment_methods.exists()
