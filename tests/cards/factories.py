"""factory_boy factories for cards tests (users come from here until tests/factories.py exists)."""

import secrets

import factory
from django.contrib.auth import get_user_model

from cards import crypto, selectors
from cards.models import Card, ProgrammingLink
from cards.services.cards import card_activate, card_cancel, card_create, card_freeze
from cards.services.programming import card_program, programming_link_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"cards-user-{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")


class OperatorFactory(UserFactory):
    username = factory.Sequence(lambda n: f"cards-operator-{n}")
    is_staff = True
    is_superuser = True
    password = factory.django.Password("operator-pass-123")


def make_card(**kwargs):
    """A card issued through the real service (so its invariants hold); returns CardCreated."""
    kwargs.setdefault("name", "Test card")
    return card_create(**kwargs)


def make_programmed_card(*, uid: str = "04A39493CC8680", status: str = "active", **kwargs) -> Card:
    """A card programmed through the real link flow and moved to ``status`` by the services."""
    card = make_card(**kwargs).card
    link = programming_link_create(card=card, kind=ProgrammingLink.Kind.PROGRAM)
    card_program(token=link.token, uid_hex=uid)
    card.refresh_from_db()
    # A held card activates itself once programmed; an unheld one waits for an operator.
    if status in {"active", "frozen"} and card.status == "inactive":
        card_activate(card=card)
    if status == "frozen":
        card_freeze(card=card)
    if status == "canceled":
        card_cancel(card=card)
    card.refresh_from_db()
    return card


def tap_params(card: Card, counter: int) -> dict[str, str]:
    """The ``p`` and ``c`` query parameters this card's chip would write at ``counter``."""
    keys = selectors.card_keys_get(card=card)
    p, c = crypto.sun_make(uid=bytes.fromhex(card.uid), counter=counter, k1=keys.k1, k2=keys.k2)
    return {"p": p.hex().upper(), "c": c.hex().upper()}


def fund_card(card: Card, msat: int, *, key: str | None = None):
    """Credit a card from the program budget (as an operator's funding would)."""
    from flashpay.ledger.services import account_get_or_create, transaction_post

    budget = account_get_or_create(kind="program_budget", reference="test-funding")
    account = account_get_or_create(kind="card", reference=card.public_id)
    return transaction_post(
        entries=[(budget, -msat), (account, msat)],
        idempotency_key=key or f"test-fund:{card.public_id}:{secrets.token_hex(8)}",
        metadata={"type": "card_topup"},
    )
