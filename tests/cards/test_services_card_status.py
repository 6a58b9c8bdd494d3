"""The card state machine: inactive -> active <-> frozen -> canceled, with an event per change."""

import pytest

from cards.models import Card, CardEvent
from cards.services.cards import card_activate, card_cancel, card_claim, card_freeze, card_unfreeze
from flashpay.errors import Conflict
from flashpay.events.models import Event

from .factories import UserFactory, make_card

pytestmark = pytest.mark.django_db
S = Card.Status

SERVICES = {
    "activate": card_activate,
    "freeze": card_freeze,
    "unfreeze": card_unfreeze,
    "cancel": card_cancel,
}
# (from, action) -> to; every pair not listed must be refused.
ALLOWED = {
    (S.INACTIVE, "activate"): S.ACTIVE,
    (S.INACTIVE, "cancel"): S.CANCELED,
    (S.ACTIVE, "freeze"): S.FROZEN,
    (S.ACTIVE, "cancel"): S.CANCELED,
    (S.FROZEN, "unfreeze"): S.ACTIVE,
    (S.FROZEN, "cancel"): S.CANCELED,
}


def _card_in(status):
    card = make_card().card
    Card.objects.filter(pk=card.pk).update(status=status)
    card.refresh_from_db()
    return card


@pytest.mark.parametrize("from_status", list(S))
@pytest.mark.parametrize("action", list(SERVICES))
def test_transition_table(from_status, action):
    # given
    card = _card_in(from_status)
    operator = UserFactory()
    events_before = CardEvent.objects.filter(card=card, kind=CardEvent.Kind.STATUS).count()
    expected = ALLOWED.get((from_status, action))
    if expected is None:
        # when / then: refused, and nothing written
        with pytest.raises(Conflict) as exc:
            SERVICES[action](card=card, actor=operator, reason="test")
        assert exc.value.code == "invalid-card-transition"
        card.refresh_from_db()
        assert card.status == from_status
        assert (
            CardEvent.objects.filter(card=card, kind=CardEvent.Kind.STATUS).count() == events_before
        )
    else:
        result = SERVICES[action](card=card, actor=operator, reason="lost wallet")
        card.refresh_from_db()
        assert result.status == card.status == expected
        event = CardEvent.objects.filter(card=card, kind=CardEvent.Kind.STATUS).latest("pk")
        assert (event.from_status, event.to_status) == (from_status, expected)
        assert event.actor == operator
        assert event.reason == "lost wallet"
        assert event.created_at is not None
        outbox = Event.objects.filter(aggregate_type="card", aggregate_id=card.public_id).latest(
            "pk"
        )
        assert outbox.type == "CardStatusChanged"
        assert (outbox.payload["from"], outbox.payload["to"]) == (from_status, expected)


def test_activation_stamps_activated_at_once():
    card = make_card().card
    card = card_activate(card=card)
    first = card.activated_at
    assert first is not None
    card = card_freeze(card=card)
    card = card_unfreeze(card=card)
    assert card.activated_at == first


def test_stale_instance_cannot_skip_the_guard():
    # An admin page loaded while the card was frozen; meanwhile it was canceled elsewhere.
    card = make_card().card
    card_activate(card=card)
    stale = Card.objects.get(pk=card.pk)
    card_cancel(card=card, reason="stolen")
    with pytest.raises(Conflict):
        card_unfreeze(card=stale)
    assert Card.objects.get(pk=card.pk).status == S.CANCELED


def test_issuance_writes_an_issued_event_and_hashes_the_activation_code():
    created = make_card(name="Alice")
    card = created.card
    assert card.status == S.INACTIVE
    assert created.activation_code not in card.activation_code_hash
    assert CardEvent.objects.filter(card=card, kind=CardEvent.Kind.ISSUED).count() == 1
    from cards.selectors import card_get_by_activation_code

    typed = created.activation_code.lower().replace("-", " ")
    assert card_get_by_activation_code(code=typed).pk == card.pk


@pytest.mark.parametrize(
    ("per_tx", "daily", "path"),
    [
        (-1, 10, "per_transaction_limit_msat"),
        (10, -1, "daily_limit_msat"),
        (20, 10, "per_transaction_limit_msat"),
    ],
)
def test_bad_limits_are_refused_and_nothing_is_written(per_tx, daily, path):
    from flashpay.errors import FieldError

    with pytest.raises(FieldError) as exc:
        make_card(per_transaction_limit_msat=per_tx, daily_limit_msat=daily)
    assert exc.value.path == path
    assert Card.objects.count() == 0
    assert CardEvent.objects.count() == 0


def test_claim_links_the_holder_once():
    from flashpay.errors import NotFound

    created = make_card()
    alice, bob = UserFactory(), UserFactory()
    card = card_claim(activation_code=created.activation_code, user=alice)
    assert card.holder == alice
    assert card_claim(activation_code=created.activation_code, user=alice).holder == alice
    with pytest.raises(NotFound):
        card_claim(activation_code=created.activation_code, user=bob)
    with pytest.raises(NotFound):
        card_claim(activation_code="AAAA-BBBB-CCCC", user=bob)
    assert Card.objects.get(pk=card.pk).holder == alice
    assert CardEvent.objects.filter(card=card, reason="claimed with activation code").count() == 1


def test_a_holder_linking_a_programmed_card_gets_an_active_card(program):
    # given a card programmed by an operator and handed out, still inactive
    created = make_card()
    program(created.card)
    assert Card.objects.get(pk=created.card.pk).status == S.INACTIVE
    alice = UserFactory()
    # when its holder types the printed activation code in the app
    card = card_claim(activation_code=created.activation_code, user=alice)
    # then the card is hers and active, with an audit row and an event saying so
    assert (card.holder, card.status) == (alice, S.ACTIVE)
    assert card.activated_at is not None
    audit = CardEvent.objects.get(card=card, kind=CardEvent.Kind.STATUS)
    assert (audit.from_status, audit.to_status, audit.actor) == (S.INACTIVE, S.ACTIVE, alice)
    assert Event.objects.filter(type="CardStatusChanged", aggregate_id=card.public_id).count() == 1
    # linking again changes nothing
    card_claim(activation_code=created.activation_code, user=alice)
    assert CardEvent.objects.filter(card=card, kind=CardEvent.Kind.STATUS).count() == 1


def test_a_card_linked_before_it_is_programmed_activates_when_programmed(program):
    created = make_card()
    alice = UserFactory()
    card = card_claim(activation_code=created.activation_code, user=alice)
    assert card.status == S.INACTIVE  # no keys on the chip yet: it could not pay
    program(card)
    assert Card.objects.get(pk=card.pk).status == S.ACTIVE


def test_self_activation_leaves_unheld_frozen_and_once_active_cards_alone(program):
    # an unheld card that is programmed still waits for its holder (or an operator)
    unheld = make_card()
    program(unheld.card)
    assert Card.objects.get(pk=unheld.card.pk).status == S.INACTIVE
    # a card its holder froze stays frozen when the holder links it again
    alice = UserFactory()
    created = make_card()
    card_claim(activation_code=created.activation_code, user=alice)
    program(created.card, uid="04A39493CC8681")
    card_freeze(card=created.card, actor=alice)
    assert card_claim(activation_code=created.activation_code, user=alice).status == S.FROZEN
