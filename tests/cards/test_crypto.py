"""SUN verification (NXP AN12196) and Bolt Card deterministic keys against published vectors."""

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from cards import crypto

ZERO = bytes(16)


def test_an12196_example_decrypts_and_authenticates():
    # NXP AN12196 SUN example: K1 = K2 = zeros.
    picc = crypto.sun_verify_hex(
        p_hex="EF963FF7828658A599F3041510671E88", c_hex="94EED9EE65337086", k1=ZERO, k2=ZERO
    )
    assert picc.uid.hex().upper() == "04DE5F1EACC040"
    assert picc.counter == 61


@pytest.mark.parametrize(
    ("p", "c", "counter"),
    [
        ("4E2E289D945A66BB13377A728884E867", "E19CCB1FED8892CE", 3),
        ("00F48C4F8E386DED06BCDC78FA92E2FE", "66B4826EA4C155B4", 5),
        ("0DBF3C59B59B0638D60B5842A997D4D1", "CC61660C020B4D96", 7),
    ],
)
def test_bolt_card_published_sun_vectors(p, c, counter):
    # boltcard/boltcard docs/TEST_VECTORS.md
    picc = crypto.sun_verify_hex(
        p_hex=p,
        c_hex=c,
        k1=bytes.fromhex("0c3b25d92b38ae443229dd59ad34b85d"),
        k2=bytes.fromhex("b45775776cb224c75bcde7ca3704e933"),
    )
    assert picc.uid.hex() == "04996c6a926980"
    assert picc.counter == counter


def test_bolt_card_deterministic_vectors():
    # boltcard/boltcard docs/DETERMINISTIC.md "Test vectors"
    issuer_key = bytes.fromhex("00000000000000000000000000000001")
    uid = bytes.fromhex("04a39493cc8680")
    keys = crypto.derive_card_keys(issuer_key=issuer_key, uid=uid, version=1)
    assert keys.as_hex() == {
        "k0": "a29119fcb48e737d1591d3489557e49b",
        "k1": "55da174c9608993dc27bb3f30a4a7314",
        "k2": "f4b404be700ab285e333e32348fa3d3b",
        "k3": "73610ba4afe45b55319691cb9489142f",
        "k4": "addd03e52964369be7f2967736b7bdb5",
    }
    assert crypto.card_chip_id(issuer_key=issuer_key, uid=uid).hex() == (
        "e07ce1279d980ecb892a81924b67bf18"
    )
    assert crypto.card_key(issuer_key=issuer_key, uid=uid, version=1).hex() == (
        "ebff5a4e6da5ee14cbfe720ae06fbed9"
    )


def test_key_version_changes_every_key_but_k1():
    issuer_key = bytes.fromhex("00000000000000000000000000000001")
    uid = bytes.fromhex("04a39493cc8680")
    v1 = crypto.derive_card_keys(issuer_key=issuer_key, uid=uid, version=1)
    v2 = crypto.derive_card_keys(issuer_key=issuer_key, uid=uid, version=2)
    assert v1.k1 == v2.k1
    assert {v1.k0, v1.k2, v1.k3, v1.k4}.isdisjoint({v2.k0, v2.k2, v2.k3, v2.k4})


def test_inverse_helper_round_trip():
    k1, k2 = bytes(range(16)), bytes(range(16, 32))
    uid = bytes.fromhex("04AABBCCDDEEFF")
    for counter in (0, 1, 255, 256, 65_536, 0xFFFFFF):
        p, c = crypto.sun_make(uid=uid, counter=counter, k1=k1, k2=k2)
        picc = crypto.sun_verify(p=p, c=c, k1=k1, k2=k2)
        assert (picc.uid, picc.counter) == (uid, counter)


def test_inverse_helper_reproduces_an12196():
    # The chip's 5 random padding bytes, recovered by decrypting the example's p directly.
    decryptor = Cipher(algorithms.AES(ZERO), modes.CBC(ZERO)).decryptor()
    plain = decryptor.update(bytes.fromhex("EF963FF7828658A599F3041510671E88"))
    p, c = crypto.sun_make(
        uid=bytes.fromhex("04DE5F1EACC040"), counter=61, k1=ZERO, k2=ZERO, padding=plain[11:]
    )
    assert p.hex().upper() == "EF963FF7828658A599F3041510671E88"
    assert c.hex().upper() == "94EED9EE65337086"


def test_wrong_cmac_is_refused():
    with pytest.raises(crypto.SunError) as exc:
        crypto.sun_verify_hex(
            p_hex="EF963FF7828658A599F3041510671E88", c_hex="94EED9EE65337087", k1=ZERO, k2=ZERO
        )
    assert exc.value.reason == "bad-mac"


def test_wrong_k2_is_refused():
    p, c = crypto.sun_make(uid=bytes(7), counter=5, k1=ZERO, k2=ZERO)
    with pytest.raises(crypto.SunError) as exc:
        crypto.sun_verify(p=p, c=c, k1=ZERO, k2=b"\x01" * 16)
    assert exc.value.reason == "bad-mac"


def test_wrong_tag_byte_is_refused():
    # Same p under another K1 decrypts to noise: the 0xC7 tag check catches it.
    with pytest.raises(crypto.SunError) as exc:
        crypto.sun_verify_hex(
            p_hex="EF963FF7828658A599F3041510671E88",
            c_hex="94EED9EE65337086",
            k1=b"\x01" * 16,
            k2=ZERO,
        )
    assert exc.value.reason == "bad-tag"


def test_tampered_p_is_refused():
    p, c = crypto.sun_make(uid=bytes.fromhex("04DE5F1EACC040"), counter=61, k1=ZERO, k2=ZERO)
    # Flip a bit in the second half of the block: with CBC and a zero IV the whole plaintext
    # changes, so either the tag or the MAC check must fail.
    tampered = p[:10] + bytes([p[10] ^ 0x01]) + p[11:]
    with pytest.raises(crypto.SunError) as exc:
        crypto.sun_verify(p=tampered, c=c, k1=ZERO, k2=ZERO)
    assert exc.value.reason in {"bad-tag", "bad-mac"}


def test_counter_changed_in_plaintext_is_refused():
    # An attacker who knows K1 (shared by all cards of an issuer key) re-encrypts p with a
    # higher counter; without K2 the MAC does not follow.
    _, c = crypto.sun_make(uid=bytes(7), counter=5, k1=ZERO, k2=b"\x02" * 16)
    forged_p, _ = crypto.sun_make(uid=bytes(7), counter=6, k1=ZERO, k2=ZERO)
    with pytest.raises(crypto.SunError) as exc:
        crypto.sun_verify(p=forged_p, c=c, k1=ZERO, k2=b"\x02" * 16)
    assert exc.value.reason == "bad-mac"


@pytest.mark.parametrize(
    ("p", "c"),
    [
        ("EF963FF7828658A599F3041510671E", "94EED9EE65337086"),  # short p
        ("EF963FF7828658A599F3041510671E88", "94EED9EE653370"),  # short c
        ("ZZ963FF7828658A599F3041510671E88", "94EED9EE65337086"),  # not hex
        ("", ""),
    ],
)
def test_malformed_input_is_refused(p, c):
    with pytest.raises(crypto.SunError) as exc:
        crypto.sun_verify_hex(p_hex=p, c_hex=c, k1=ZERO, k2=ZERO)
    assert exc.value.reason == "bad-format"
