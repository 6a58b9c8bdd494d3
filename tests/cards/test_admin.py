"""Operator admin: issuing with QR links, search by UID, status actions, tap log read-only."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from cards.models import Card, CardEvent, IssuerKey, ProgrammingLink, TapLog
from cards.services.cards import card_activate
from cards.services.taps import tap_log_record

from .factories import OperatorFactory, make_card

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    return OperatorFactory()


@pytest.fixture
def admin_client(operator):
    client = Client()
    client.force_login(operator)
    return client


def test_issuing_a_batch_shows_links_qr_and_codes_once(admin_client, operator):
    # when
    response = admin_client.post(
        reverse("admin:cards_card_issue"),
        {
            "name_prefix": "Kingston",
            "count": 3,
            "per_transaction_limit_sat": 50_000,
            "daily_limit_sat": 200_000,
        },
    )
    # then
    assert response.status_code == 200
    html = response.content.decode()
    cards = list(Card.objects.order_by("pk"))
    assert [c.name for c in cards] == ["Kingston 001", "Kingston 002", "Kingston 003"]
    assert all(c.per_transaction_limit_msat == 50_000_000 for c in cards)
    assert all(c.daily_limit_msat == 200_000_000 for c in cards)
    assert html.count('<div class="qr"><svg') == 3
    deeplinks = re.findall(r"boltcard://program\?url=[^\"<]+", html)
    assert len(set(deeplinks)) == 3
    assert "no-store" in response["Cache-Control"]
    assert ProgrammingLink.objects.filter(kind="program", created_by=operator).count() == 3
    codes = re.findall(r"<code>([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})</code>", html)
    assert len(set(codes)) == 3
    from cards.selectors import card_get_by_activation_code

    assert {card_get_by_activation_code(code=c).pk for c in codes} == {c.pk for c in cards}


def test_issuing_needs_a_csrf_token(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post(
        reverse("admin:cards_card_issue"),
        {"name_prefix": "X", "count": 1, "per_transaction_limit_sat": 1, "daily_limit_sat": 1},
    )
    assert response.status_code == 403
    assert Card.objects.count() == 0


def test_issuing_bad_input_shows_errors_and_writes_nothing(admin_client):
    response = admin_client.post(
        reverse("admin:cards_card_issue"),
        {"name_prefix": "X", "count": 2, "per_transaction_limit_sat": 10, "daily_limit_sat": 5},
    )
    assert response.status_code == 200
    assert "cannot exceed the daily limit" in response.content.decode()
    assert Card.objects.count() == 0 and ProgrammingLink.objects.count() == 0


def test_add_button_goes_to_issuing(admin_client):
    response = admin_client.get(reverse("admin:cards_card_add"))
    assert response.status_code == 302 and response["Location"] == reverse("admin:cards_card_issue")


def test_non_staff_cannot_issue():
    from .factories import UserFactory

    client = Client()
    client.force_login(UserFactory())
    response = client.post(reverse("admin:cards_card_issue"), {"name_prefix": "X", "count": 1})
    assert response.status_code == 302  # to the admin login
    assert Card.objects.count() == 0


def test_search_by_uid_and_filter_by_status(admin_client, program):
    wanted = make_card(name="Wanted").card
    program(wanted, uid="04A39493CC8680")
    make_card(name="Other")
    response = admin_client.get(reverse("admin:cards_card_changelist"), {"q": "04a39493cc8680"})
    html = response.content.decode()
    assert "Wanted" in html and "Other" not in html
    response = admin_client.get(
        reverse("admin:cards_card_changelist"), {"status__exact": "inactive"}
    )
    assert "Wanted" in response.content.decode() and "Other" in response.content.decode()


def test_freeze_action_asks_for_a_reason_then_freezes(admin_client, operator):
    card = card_activate(card=make_card().card)
    url = reverse("admin:cards_card_changelist")
    # first post: confirmation page, nothing changed
    response = admin_client.post(url, {"action": "frozen_cards", "_selected_action": [card.pk]})
    assert response.status_code == 200 and b"reason" in response.content
    assert Card.objects.get(pk=card.pk).status == "active"
    # confirm
    response = admin_client.post(
        url,
        {
            "action": "frozen_cards",
            "_selected_action": [card.pk],
            "apply": "1",
            "reason": "reported lost",
        },
    )
    assert response.status_code == 302
    assert Card.objects.get(pk=card.pk).status == "frozen"
    event = CardEvent.objects.filter(card=card, kind="status").latest("pk")
    assert (event.from_status, event.to_status, event.actor, event.reason) == (
        "active",
        "frozen",
        operator,
        "reported lost",
    )


def test_illegal_action_is_reported_and_writes_nothing(admin_client):
    card = make_card().card  # inactive: cannot be frozen
    response = admin_client.post(
        reverse("admin:cards_card_changelist"),
        {"action": "frozen_cards", "_selected_action": [card.pk], "apply": "1", "reason": ""},
        follow=True,
    )
    assert "cannot become frozen" in response.content.decode()
    assert Card.objects.get(pk=card.pk).status == "inactive"
    assert not CardEvent.objects.filter(card=card, kind="status").exists()


def test_cancel_action(admin_client):
    card = make_card().card
    admin_client.post(
        reverse("admin:cards_card_changelist"),
        {
            "action": "canceled_cards",
            "_selected_action": [card.pk],
            "apply": "1",
            "reason": "damaged",
        },
    )
    assert Card.objects.get(pk=card.pk).status == "canceled"


def test_wipe_link_action_shows_a_reset_qr(admin_client, program):
    card = make_card().card
    program(card)
    response = admin_client.post(
        reverse("admin:cards_card_changelist"),
        {"action": "make_wipe_links", "_selected_action": [card.pk]},
    )
    assert response.status_code == 200
    assert "boltcard://reset?url=" in response.content.decode()
    assert b'<div class="qr"><svg' in response.content
    assert ProgrammingLink.objects.filter(card=card, kind="wipe").count() == 1


def test_change_form_edits_limits_through_the_service(admin_client):
    card = make_card(name="Old").card
    response = admin_client.post(
        reverse("admin:cards_card_change", args=[card.pk]),
        {
            "name": "New",
            "holder": "",
            "per_transaction_limit_msat": 1_000,
            "daily_limit_msat": 5_000,
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    card.refresh_from_db()
    assert (card.name, card.per_transaction_limit_msat, card.daily_limit_msat) == (
        "New",
        1_000,
        5_000,
    )
    assert CardEvent.objects.filter(card=card, kind="updated").count() == 1


def test_issuer_key_added_in_admin_is_encrypted_and_active(admin_client):
    response = admin_client.post(reverse("admin:cards_issuerkey_add"), {"label": "2026 Q4"})
    assert response.status_code == 302
    key = IssuerKey.objects.get(label="2026 Q4")
    assert key.is_active and len(bytes(key.encrypted_key)) == 1 + 12 + 16 + 16


def test_tap_log_is_read_only(admin_client):
    card = make_card().card
    entry = tap_log_record(
        card=card,
        outcome="rejected",
        uid="04A39493CC8680",
        counter=3,
        reason="replay",
        ip="198.51.100.1",
    )
    assert admin_client.get(reverse("admin:cards_taplog_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:cards_taplog_add")).status_code == 403
    response = admin_client.post(
        reverse("admin:cards_taplog_change", args=[entry.pk]), {"reason": "edited"}
    )
    assert response.status_code == 403
    assert TapLog.objects.get(pk=entry.pk).reason == "replay"
