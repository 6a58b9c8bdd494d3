"""Fixtures for the cards tests."""

import pytest

from cards import services
from cards.models import ProgrammingLink
from cards.services import payments


@pytest.fixture
def program():
    """Program a card's chip through the real link flow; returns the ProgrammingResult."""

    def _program(card, *, uid: str = "04A39493CC8680"):
        link = services.programming_link_create(card=card, kind=ProgrammingLink.Kind.PROGRAM)
        return services.card_program(token=link.token, uid_hex=uid)

    return _program


@pytest.fixture
def flashpay_node(settings, lnd_network, lnd_backend):
    """Point FlashPay's configured node at the devnode's "flashpay" node for this test."""
    settings.LIGHTNING_CONNECTION_STRING = lnd_network.connection_string("flashpay")
    settings.LIGHTNING_TIMEOUT = 5.0
    payments._backend_for.cache_clear()
    yield lnd_backend
    payments._backend_for.cache_clear()
