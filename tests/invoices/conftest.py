"""Fixtures for the invoice tests: devnodes wired into settings, a store with both payment methods, delivery of outbox events."""
from __future__ import annotations

import pytest
from embit import bip32
from embit.networks import NETWORKS

from flashpay.events.models import Event, EventDelivery
from flashpay.events.tasks import dispatch_event
from tests.factories import StoreFactory, UserFactory, create_api_key, token_header
from tests.fixtures.nodes import node_clients_forget
from tests.invoices.factories import store_setup_payment_methods


def vpub(seed: bytes = b"\x11" * 32) -> str:
    """A BIP84 regtest/testnet account key (vpub) of a fixed seed."""
    return bip32.HDKey.from_seed(seed).derive("m/84h/1h/0h").to_public().to_string(version=NETWORKS["test"]["zpub"])


@pytest.fixture
def rates(settings):
    """Fixed rates only: 1 BTC = 50,000 USD; JMD through USD."""
    settings.RATES_SOURCES = ["fixed"]
    settings.RATES_FIXED = {"BTC_USD": "50000", "USD_JMD": "157.5"}


@pytest.fixture
def nodes(settings, bitcoind, bitcoind_client, lnd_network, rates):
    """The devnode bitcoind and LND as FlashPay's configured nodes (the server's internal node)."""
    settings.BITCOIN_NETWORK = "regtest"
    settings.BITCOIND_URL = bitcoind.url
    settings.BITCOIND_RPCUSER = bitcoind.rpcuser
    settings.BITCOIND_RPCPASSWORD = bitcoind.rpcpassword
    settings.BITCOIND_COOKIE_FILE = ""
    settings.BITCOIND_WALLET = "flashpay"
    settings.LIGHTNING_CONNECTION_STRING = lnd_network.connection_string("flashpay")
    node_clients_forget()
    yield
    node_clients_forget()


@pytest.fixture
def merchant(db):
    """(owner, store, API key secret with every store permission)."""
    owner = UserFactory()
    store = StoreFactory(owner=owner)
    _key, secret = create_api_key(user=owner, permissions=[f"btcpay.store.canmodifystoresettings:{store.pk}"])
    return owner, store, secret


@pytest.fixture
def store_calls(merchant, settings, api_client):
    """(store, call): ``call(method, path, body=None, auth=True)`` on ``/api/v1/stores/{storeId}{path}``."""
    settings.BITCOIN_NETWORK = "regtest"
    _owner, store, secret = merchant
    headers = token_header(secret)

    def call(method, path, body=None, auth=True):
        return getattr(api_client, method)(
            f"/api/v1/stores/{store.pk}{path}", body, format="json", **(headers if auth else {})
        )

    return store, call


@pytest.fixture
def shop(nodes, merchant):
    """A store with BTC-CHAIN (a regtest vpub) and BTC-LN (the internal node), and its API client headers."""
    owner, store, secret = merchant
    store_setup_payment_methods(store=store, xpub=vpub())
    return store, token_header(secret)


def deliver() -> list[Event]:
    """Run every due outbox delivery, oldest event first, until none is left (the worker's job)."""
    delivered: list[Event] = []
    for _ in range(50):
        due = list(
            Event.objects.filter(deliveries__state=EventDelivery.State.PENDING).order_by("pk").distinct()[:500]
        )
        if not due:
            return delivered
        for event in due:
            dispatch_event(event.pk)
            delivered.append(event)
    raise AssertionError("outbox deliveries keep coming")


def invoice_events(invoice_id: str) -> list[str]:
    """The invoice's webhook-type outbox events, in order."""
    return list(
        Event.objects.filter(aggregate_type="invoice", aggregate_id=invoice_id).order_by("pk").values_list("type", flat=True)
    )
