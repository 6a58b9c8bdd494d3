"""Issuer keys: encrypted at rest, bound to their row, rotation keeps old cards verifiable."""

import pytest
from django.db import connection
from django.test import override_settings

from cards import crypto, selectors
from cards.keys import KeyDecryptionError, open_key
from cards.models import IssuerKey
from cards.services.issuer_keys import issuer_key_create
from cards.services.taps import card_sun_authenticate

from .factories import make_card

pytestmark = pytest.mark.django_db

KNOWN = bytes.fromhex("00112233445566778899aabbccddeeff")


def test_issuer_key_column_does_not_hold_the_plaintext():
    # given
    issuer_key = issuer_key_create(label="k", key=KNOWN)
    # when: the raw column, as a database dump would show it
    with connection.cursor() as cursor:
        cursor.execute("SELECT encrypted_key FROM cards_issuerkey WHERE id = %s", [issuer_key.pk])
        raw = bytes(cursor.fetchone()[0])
    # then
    assert KNOWN not in raw
    assert KNOWN.hex() not in raw.hex()
    assert selectors.issuer_key_secret(issuer_key=IssuerKey.objects.get(pk=issuer_key.pk)) == KNOWN


def test_ciphertext_moved_to_another_row_does_not_decrypt():
    a = issuer_key_create(label="a", key=KNOWN)
    b = issuer_key_create(label="b", key=bytes(16))
    with pytest.raises(KeyDecryptionError):
        open_key(blob=a.encrypted_key, ref=b.ref)


def test_another_kek_cannot_decrypt():
    issuer_key = issuer_key_create(label="k", key=KNOWN)
    with override_settings(CARD_KEY_ENCRYPTION_KEY="ab" * 32):
        with pytest.raises(KeyDecryptionError):
            selectors.issuer_key_secret(issuer_key=issuer_key)


def test_only_one_key_is_active_after_rotation():
    first = issuer_key_create(label="first")
    second = issuer_key_create(label="second")
    first.refresh_from_db()
    assert not first.is_active and first.retired_at is not None
    assert second.is_active
    assert IssuerKey.objects.filter(is_active=True).count() == 1


def test_rotation_keeps_cards_of_the_old_key_verifiable(program):
    # given a card programmed under the first key
    issuer_key_create(label="old")
    old_card = make_card(name="old").card
    program(old_card, uid="04A39493CC8680")
    # when the key is rotated and a new card is programmed under the new key
    issuer_key_create(label="new")
    new_card = make_card(name="new").card
    program(new_card, uid="04A39493CC8681")
    # then taps from both authenticate and resolve to the right card
    for card in (old_card, new_card):
        card.refresh_from_db()
        keys = selectors.card_keys_get(card=card)
        p, c = crypto.sun_make(uid=bytes.fromhex(card.uid), counter=1, k1=keys.k1, k2=keys.k2)
        tap = card_sun_authenticate(p_hex=p.hex(), c_hex=c.hex())
        assert tap.card.pk == card.pk
    assert old_card.issuer_key_id != new_card.issuer_key_id


def test_a_chance_tag_match_under_another_key_does_not_hide_the_card(program):
    # given a card under an old key, and a newer active key that is tried first
    issuer_key_create(label="old", key=bytes.fromhex("11" * 16))
    card = make_card().card
    program(card, uid="04A39493CC8680")
    card.refresh_from_db()
    new_secret = bytes.fromhex("22" * 16)
    issuer_key_create(label="new", key=new_secret)
    keys = selectors.card_keys_get(card=card)
    # when a tap's p happens to decrypt to the 0xC7 tag under the new key too (1 in 256)
    for counter in range(1, 5000):
        p, c = crypto.sun_make(uid=bytes.fromhex(card.uid), counter=counter, k1=keys.k1, k2=keys.k2)
        try:
            crypto.sun_decrypt(p=p, k1=crypto.encryption_key(new_secret))
        except crypto.SunError:
            continue
        break
    else:
        pytest.fail("no chance tag match found")
    # then the search goes on to the old key and finds the card
    tap = card_sun_authenticate(p_hex=p.hex(), c_hex=c.hex())
    assert (tap.card.pk, tap.counter) == (card.pk, counter)


def test_tap_helpers_simulate_a_real_chip():
    from .factories import make_programmed_card, tap_params

    card = make_programmed_card(uid="04DE5F1EACC040")
    tap = card_sun_authenticate(**{f"{k}_hex": v for k, v in tap_params(card, 9).items()})
    assert (tap.card.pk, tap.uid, tap.counter) == (card.pk, "04DE5F1EACC040", 9)
    assert tap.card.status == "active"
