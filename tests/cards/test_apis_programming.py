"""The programming and wipe endpoints the Bolt Card NFC Programmer app calls (DEEPLINK.md)."""

from datetime import timedelta
from urllib.parse import quote, urlencode

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from cards import crypto, selectors
from cards.models import Card, CardEvent, ProgrammingLink
from cards.services import programming
from cards.services.cards import card_cancel
from cards.services.issuer_keys import issuer_key_create
from cards.services.programming import programming_link_create
from cards.services.taps import card_counter_advance, card_sun_authenticate
from tests.concurrency import run_together

from .factories import make_card

pytestmark = pytest.mark.django_db

UID = "04A39493CC8680"


def _link(card, kind=ProgrammingLink.Kind.PROGRAM):
    return programming_link_create(card=card, kind=kind)


def _post(url, body):
    return APIClient().post(url, body, format="json", REMOTE_ADDR="203.0.113.7")


@pytest.fixture
def issuer_secret():
    key = issuer_key_create(label="test", key=bytes.fromhex("00" * 15 + "01"))
    return selectors.issuer_key_secret(issuer_key=key)


def test_program_link_returns_the_deterministic_keys(issuer_secret, settings):
    # given
    settings.FLASHPAY_BASE_URL = "https://pay.example.com"
    card = make_card(name="Alice's card").card
    link = _link(card)
    assert link.url == "https://pay.example.com/cards/program?" + urlencode({"token": link.token})
    assert link.deeplink == "boltcard://program?url=" + quote(link.url, safe="")
    # when the app posts the chip's UID
    response = _post(link.url, {"UID": UID.lower()})
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    expected = crypto.derive_card_keys(issuer_key=issuer_secret, uid=bytes.fromhex(UID), version=0)
    assert body == {
        "protocol_name": "create_bolt_card_response",
        "protocol_version": 2,
        "card_name": "Alice's card",
        "lnurlw_base": "lnurlw://pay.example.com/cards/tap",
        **expected.as_hex(),
    }
    assert response["Cache-Control"] == "no-store"
    card.refresh_from_db()
    assert card.uid == UID and card.key_version == 0 and card.programmed_at is not None
    assert (
        card.chip_id == crypto.card_chip_id(issuer_key=issuer_secret, uid=bytes.fromhex(UID)).hex()
    )
    link.link.refresh_from_db()
    assert link.link.used_at is not None and link.link.used_ip == "203.0.113.7"


def test_token_is_not_stored(issuer_secret):
    link = _link(make_card().card)
    stored = ProgrammingLink.objects.get(pk=link.link.pk)
    assert link.token not in stored.token_hash
    assert not ProgrammingLink.objects.filter(token_hash=link.token).exists()


def test_program_link_is_single_use(issuer_secret):
    link = _link(make_card().card)
    assert _post(link.url, {"UID": UID}).status_code == 200
    again = _post(link.url, {"UID": UID})
    assert again.status_code == 410
    assert again.json()["code"] == "link-used"
    assert "k0" not in again.json()


def test_program_link_expires_after_ten_minutes(issuer_secret, monkeypatch):
    card = make_card().card
    link = _link(card)
    later = timezone.now() + timedelta(minutes=10, seconds=1)
    monkeypatch.setattr(programming.timezone, "now", lambda: later)
    response = _post(link.url, {"UID": UID})
    assert response.status_code == 410
    assert response.json()["code"] == "link-expired"
    card.refresh_from_db()
    assert card.uid is None and card.programmed_at is None


def test_link_still_works_just_before_expiry(issuer_secret, monkeypatch):
    link = _link(make_card().card)
    later = timezone.now() + timedelta(minutes=9, seconds=50)
    monkeypatch.setattr(programming.timezone, "now", lambda: later)
    assert _post(link.url, {"UID": UID}).status_code == 200


def test_newer_link_revokes_the_older_one(issuer_secret):
    card = make_card().card
    old, new = _link(card), _link(card)
    assert _post(old.url, {"UID": UID}).json()["code"] == "link-revoked"
    assert _post(new.url, {"UID": UID}).status_code == 200


@pytest.mark.parametrize("uid", ["04A39493CC86", "04A39493CC868000", "ZZA39493CC8680", ""])
def test_bad_uid_is_a_400_and_keeps_the_link(issuer_secret, uid):
    card = make_card().card
    link = _link(card)
    response = _post(link.url, {"UID": uid})
    assert response.status_code == 400
    assert response.json()[0]["path"] == "UID"
    link.link.refresh_from_db()
    card.refresh_from_db()
    assert link.link.used_at is None and card.uid is None


def test_unknown_token_is_404_and_get_is_not_allowed(issuer_secret):
    assert _post(reverse("cards:program") + "?token=nope", {"UID": UID}).status_code == 404
    assert _post(reverse("cards:program"), {"UID": UID}).status_code == 404
    link = _link(make_card().card)
    assert APIClient().get(link.url).status_code == 405
    # A program token does not open the wipe endpoint.
    wipe_url = reverse("cards:wipe") + "?" + urlencode({"token": link.token})
    assert _post(wipe_url, {"UID": UID}).status_code == 404


def test_chip_of_another_live_card_is_refused(issuer_secret, program):
    program(make_card(name="first").card, uid=UID)
    second = make_card(name="second").card
    link = _link(second)
    response = _post(link.url, {"UID": UID})
    assert response.status_code == 409
    assert response.json()["code"] == "chip-in-use"
    second.refresh_from_db()
    link.link.refresh_from_db()
    assert second.uid is None and link.link.used_at is None


def test_canceled_card_cannot_be_programmed(issuer_secret):
    card = make_card().card
    link = _link(card)
    card_cancel(card=card, reason="damaged")
    assert _post(link.url, {"UID": UID}).json()["code"] == "link-revoked"


def test_reprogramming_bumps_the_key_version_and_resets_the_counter(issuer_secret, program):
    # given a programmed card that has been tapped
    card = make_card().card
    first = program(card, uid=UID)
    card.refresh_from_db()
    assert card_counter_advance(card=card, counter=5)
    # when it is wiped and programmed again
    wipe = _link(card, ProgrammingLink.Kind.WIPE)
    assert _post(wipe.url, {"UID": UID}).status_code == 200
    second = program(card, uid=UID)
    # then the keys are new (version 1) and the counter starts over
    card.refresh_from_db()
    assert card.key_version == 1 and card.last_counter == 0
    assert second.keys.k1 == first.keys.k1 and second.keys.k2 != first.keys.k2
    assert second.keys == crypto.derive_card_keys(
        issuer_key=issuer_secret, uid=bytes.fromhex(UID), version=1
    )
    # and a tap with the old keys no longer authenticates, one with the new keys does
    old_p, old_c = crypto.sun_make(
        uid=bytes.fromhex(UID), counter=1, k1=first.keys.k1, k2=first.keys.k2
    )
    with pytest.raises(crypto.SunError) as exc:
        card_sun_authenticate(p_hex=old_p.hex(), c_hex=old_c.hex())
    assert exc.value.reason == "bad-mac"
    new_p, new_c = crypto.sun_make(
        uid=bytes.fromhex(UID), counter=1, k1=second.keys.k1, k2=second.keys.k2
    )
    tap = card_sun_authenticate(p_hex=new_p.hex(), c_hex=new_c.hex())
    assert (tap.card.pk, tap.counter) == (card.pk, 1)
    kinds = list(CardEvent.objects.filter(card=card).values_list("kind", flat=True))
    assert kinds.count(CardEvent.Kind.PROGRAMMED) == 2 and kinds.count(CardEvent.Kind.WIPED) == 1


def test_wipe_with_the_cards_lnurlw_returns_the_wipe_json(issuer_secret, program):
    # given
    card = make_card().card
    programmed = program(card, uid=UID)
    keys = programmed.keys
    p, c = crypto.sun_make(uid=bytes.fromhex(UID), counter=3, k1=keys.k1, k2=keys.k2)
    lnurlw = f"{programmed.lnurlw_base}?p={p.hex().upper()}&c={c.hex().upper()}"
    link = _link(card, ProgrammingLink.Kind.WIPE)
    assert link.deeplink.startswith("boltcard://reset?url=")
    # when
    response = _post(link.url, {"LNURLW": lnurlw})
    # then
    assert response.status_code == 200, response.content
    assert response.json() == {"action": "wipe", "version": 1, **keys.as_hex(), "uid": UID.lower()}
    card.refresh_from_db()
    assert card.programmed_at is None and card.wiped_at is not None
    # a wiped card's taps are refused
    with pytest.raises(crypto.SunError) as exc:
        card_sun_authenticate(p_hex=p.hex(), c_hex=c.hex())
    assert exc.value.reason == "not-programmed"
    # and the wipe link is spent
    assert _post(link.url, {"LNURLW": lnurlw}).status_code == 410


def test_wipe_refuses_another_chip_and_writes_nothing(issuer_secret, program):
    card = make_card().card
    program(card, uid=UID)
    other = crypto.derive_card_keys(
        issuer_key=issuer_secret, uid=bytes.fromhex("04000000000001"), version=0
    )
    p, c = crypto.sun_make(uid=bytes.fromhex("04000000000001"), counter=1, k1=other.k1, k2=other.k2)
    link = _link(card, ProgrammingLink.Kind.WIPE)
    response = _post(link.url, {"LNURLW": f"lnurlw://x/cards/tap?p={p.hex()}&c={c.hex()}"})
    assert response.status_code == 409 and response.json()["code"] == "chip-mismatch"
    assert "k0" not in response.json()
    card.refresh_from_db()
    link.link.refresh_from_db()
    assert card.programmed_at is not None and link.link.used_at is None


def test_wipe_without_chip_proof_is_a_400(issuer_secret, program):
    card = make_card().card
    program(card, uid=UID)
    link = _link(card, ProgrammingLink.Kind.WIPE)
    response = _post(link.url, {})
    assert response.status_code == 400
    response = _post(link.url, {"LNURLW": "lnurlw://x/cards/tap"})
    assert response.status_code == 400 and response.json()[0]["path"] == "LNURLW"


def test_wipe_link_needs_a_programmed_card(issuer_secret):
    from flashpay.errors import Conflict

    with pytest.raises(Conflict):
        _link(make_card().card, ProgrammingLink.Kind.WIPE)


def test_counter_must_strictly_increase(issuer_secret, program):
    card = make_card().card
    program(card, uid=UID)
    card.refresh_from_db()
    assert card_counter_advance(card=card, counter=7)
    assert not card_counter_advance(card=card, counter=7)
    assert not card_counter_advance(card=card, counter=6)
    assert Card.objects.get(pk=card.pk).last_counter == 7


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_fetches_exactly_one_gets_keys():
    issuer_key_create(label="race")
    card = make_card().card
    link = _link(card)

    def fetch():
        response = APIClient().post(link.url, {"UID": UID}, format="json")
        return response.status_code, response.json()

    results = run_together(fetch, fetch).values()
    codes = sorted(code for code, _ in results)
    assert codes == [200, 410]
    assert sum("k0" in body for _, body in results) == 1
    card.refresh_from_db()
    assert card.key_version == 0
    assert CardEvent.objects.filter(card=card, kind=CardEvent.Kind.PROGRAMMED).count() == 1


def test_a_live_token_is_not_written_to_the_request_log(issuer_secret, caplog):
    link = _link(make_card().card)
    with caplog.at_level("WARNING", logger="django.request"):
        response = _post(link.url, {"UID": "not-a-uid"})
    assert response.status_code == 400
    assert "/cards/program" in caplog.text  # the 4xx was logged...
    assert link.token not in caplog.text  # ...without the token
