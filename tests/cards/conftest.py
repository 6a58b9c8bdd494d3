"""Fixtures for the cards tests."""

import pytest

from cards.models import ProgrammingLink
from cards.services.programming import card_program, programming_link_create
from tests.fixtures.nodes import node_clients_forget


@pytest.fixture
def program():
    """Program a card's chip through the real link flow; returns the ProgrammingResult."""

    def _program(card, *, uid: str = "04A39493CC8680"):
        link = programming_link_create(card=card, kind=ProgrammingLink.Kind.PROGRAM)
        return card_program(token=link.token, uid_hex=uid)

    return _program


@pytest.fixture
def flashpay_node(settings, lnd_network, lnd_backend):
    """Point FlashPay's configured node at the devnode's "flashpay" node for this test."""
    settings.LIGHTNING_CONNECTION_STRING = lnd_network.connection_string("flashpay")
    settings.LIGHTNING_TIMEOUT = 5.0
    node_clients_forget()
    yield lnd_backend
    node_clients_forget()


def _program_store(settings, **payment_methods):
    from tests.factories import StoreFactory
    from tests.invoices.factories import store_setup_payment_methods

    settings.RATES_SOURCES = ["fixed"]
    settings.RATES_FIXED = {"BTC_USD": "50000", "USD_JMD": "157.5"}
    node_clients_forget()
    store = StoreFactory(name="Flash Card top-ups")
    store_setup_payment_methods(store=store, **payment_methods)
    settings.FLASH_PROGRAM_STORE_ID = store.pk
    return store


@pytest.fixture
def program_store(settings, flashpay_node):
    """The card program's top-up store: BTC-LN on FlashPay's (devnode) node."""

    yield _program_store(settings)
    node_clients_forget()


@pytest.fixture
def program_store_onchain(settings, flashpay_node, bitcoind, bitcoind_client):
    """The top-up store with BTC-LN on our node and BTC-CHAIN on the program's regtest wallet."""
    from tests.invoices.conftest import vpub

    settings.BITCOIN_NETWORK = "regtest"
    settings.BITCOIND_URL = bitcoind.url
    settings.BITCOIND_RPCUSER = bitcoind.rpcuser
    settings.BITCOIND_RPCPASSWORD = bitcoind.rpcpassword
    settings.BITCOIND_COOKIE_FILE = ""
    settings.BITCOIND_WALLET = "flashpay"
    yield _program_store(settings, xpub=vpub(b"\x22" * 32))
    node_clients_forget()
