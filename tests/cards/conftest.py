"""Fixtures for the cards tests."""

import pytest

from cards import services
from cards.models import ProgrammingLink


@pytest.fixture
def program():
    """Program a card's chip through the real link flow; returns the ProgrammingResult."""

    def _program(card, *, uid: str = "04A39493CC8680"):
        link = services.programming_link_create(card=card, kind=ProgrammingLink.Kind.PROGRAM)
        return services.card_program(token=link.token, uid_hex=uid)

    return _program
