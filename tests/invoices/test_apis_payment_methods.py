"""Greenfield store payment methods: on-chain wallet and Lightning setup, secrets never echoed, address preview."""
import pytest
from embit import bip32
from embit.networks import NETWORKS

from invoices.models import StorePaymentMethod
from invoices.onchain.descriptors import derive_address, parse_store_wallet
from tests.factories import UserFactory, add_member, create_api_key, token_header
from tests.invoices.conftest import vpub
from tests.invoices.greenfield_schema import validate

pytestmark = pytest.mark.django_db

MACAROON = "0201036c6e6402f801030a10"


@pytest.fixture
def store_api(merchant, settings, api_client):
    settings.BITCOIN_NETWORK = "regtest"
    _owner, store, secret = merchant
    base = f"/api/v1/stores/{store.pk}/payment-methods"
    headers = token_header(secret)

    def call(method, suffix="", body=None, query=""):
        return getattr(api_client, method)(f"{base}{suffix}{query}", body, format="json", **headers)

    return store, call


def test_onchain_wallet_setup_and_read_back(store_api):
    store, call = store_api
    response = call("put", "/BTC-CHAIN", {"enabled": True, "config": {"derivationScheme": vpub(), "label": "cold"}})
    assert response.status_code == 200, response.content
    validate(response.json(), "GenericPaymentMethodData")
    assert response.json()["config"]["derivationScheme"] == vpub()

    listed = call("get", query="?includeConfig=true").json()
    assert listed == [{"enabled": True, "paymentMethodId": "BTC-CHAIN", "config": {"derivationScheme": vpub(), "label": "cold", "accountKeyPath": ""}}]
    assert call("get", "/BTC-CHAIN").json() == {"enabled": True, "paymentMethodId": "BTC-CHAIN"}

    # enabled alone (config null: unchanged)
    assert call("put", "/BTC-CHAIN", {"enabled": False}).json()["enabled"] is False
    assert call("get", query="?onlyEnabled=true").json() == []
    assert StorePaymentMethod.objects.get().derivation_scheme == vpub()


def test_preview_shows_the_first_addresses(store_api):
    store, call = store_api
    call("put", "/BTC-CHAIN", {"config": vpub()})
    descriptor = parse_store_wallet(vpub(), network="regtest").descriptor
    expected = [{"keyPath": f"0/{i}", "address": derive_address(descriptor, i, network="regtest")} for i in range(2, 5)]

    got = call("get", "/BTC-CHAIN/wallet/preview", query="?offset=2&count=3")
    assert got.status_code == 200
    validate(got.json(), "OnChainPaymentMethodPreviewResultData")
    assert got.json()["addresses"] == expected
    proposed = call("post", "/BTC-CHAIN/wallet/preview", {"derivationScheme": vpub()}, query="?offset=2&count=3")
    assert proposed.json()["addresses"] == expected
    assert expected[0]["address"].startswith("bcrt1q")
    assert call("get", "/BTC-CHAIN/wallet/preview", query="?count=100000").status_code == 400


@pytest.mark.parametrize(
    "config",
    [
        # mainnet key on a regtest server
        bip32.HDKey.from_seed(b"\x22" * 32).derive("m/84h/0h/0h").to_public().to_string(version=NETWORKS["main"]["zpub"]),
        # a private key: wallets are watch-only
        bip32.HDKey.from_seed(b"\x22" * 32).derive("m/84h/1h/0h").to_string(version=NETWORKS["test"]["zprv"]),
        "not a key",
        "",
        {"label": "no scheme"},
        12,
    ],
)
def test_bad_onchain_configs_are_400_and_change_nothing(store_api, config):
    store, call = store_api
    response = call("put", "/BTC-CHAIN", {"enabled": True, "config": config})
    assert response.status_code == 400, response.content
    assert response.json()[0]["path"].startswith("config")
    assert StorePaymentMethod.objects.count() == 0


def test_lightning_internal_node_and_own_node_secret_never_echoed(store_api):
    store, call = store_api
    internal = call("put", "/BTC-LN", {"enabled": True, "config": {"connectionString": "Internal Node"}})
    assert internal.json()["config"] == {"connectionString": "Internal Node"}

    own = f"type=lnd-grpc;server=node.example.com:10009;macaroon={MACAROON};certthumbprint={'ab' * 32}"
    response = call("put", "/BTC-LN", {"config": own})
    assert response.status_code == 200
    assert response.json()["config"] == {"connectionString": "type=lnd-grpc;server=node.example.com:10009"}
    shown = call("get", "/BTC-LN", query="?includeConfig=true")
    assert MACAROON not in shown.content.decode()
    row = StorePaymentMethod.objects.get()
    assert MACAROON.encode() not in bytes(row.connection_string_sealed)
    assert row.internal_node is False


@pytest.mark.parametrize("config", ["type=lnd-grpc;server=x", "type=eclair;server=a:1", {"connectionString": ""}, {"nope": 1}])
def test_bad_lightning_configs_are_400(store_api, config):
    store, call = store_api
    response = call("put", "/BTC-LN", {"config": config})
    assert response.status_code == 400, response.content
    assert StorePaymentMethod.objects.count() == 0


def test_delete_and_unknown_method(store_api):
    store, call = store_api
    call("put", "/BTC-LN", {"config": "Internal Node"})
    assert call("delete", "/BTC-LN").status_code == 200
    assert call("delete", "/BTC-LN").status_code == 404
    assert call("get", "/BTC-LN").status_code == 404
    assert call("put", "/DOGE-CHAIN", {"config": "x"}).status_code == 404
    assert call("put", "/BTC-CHAIN", {"enabled": True}).status_code == 400  # new method without config


def test_permissions(api_client, store_api):
    store, call = store_api
    call("put", "/BTC-CHAIN", {"config": vpub()})
    base = f"/api/v1/stores/{store.pk}/payment-methods"
    guest = UserFactory()
    add_member(store=store, user=guest, role="Guest")
    _key, secret = create_api_key(user=guest)
    headers = token_header(secret)
    assert api_client.get(base, **headers).status_code == 403
    assert api_client.put(f"{base}/BTC-LN", {"config": "Internal Node"}, format="json", **headers).status_code == 403
    viewer = UserFactory()
    add_member(store=store, user=viewer, role="Manager")
    _key, secret = create_api_key(user=viewer)
    headers = token_header(secret)
    # a manager sees the methods but not their config, and cannot change them
    assert api_client.get(f"{base}?includeConfig=true", **headers).json() == [{"enabled": True, "paymentMethodId": "BTC-CHAIN"}]
    assert api_client.delete(f"{base}/BTC-CHAIN", **headers).status_code == 403
    assert api_client.get(base).status_code == 401
    assert StorePaymentMethod.objects.count() == 1
