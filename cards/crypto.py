"""Bolt Card cryptography: SUN message verification (NXP AN12196) and deterministic card keys.

Everything here is pure (bytes in, bytes out) so the tap endpoint, the programming flow, the
tests and the bench share one implementation. Protocol references:

- NXP AN12196 "NTAG 424 DNA and NTAG 424 DNA TagTamper features and hints", the SUN message
  examples: PICCData decryption (AES-128-CBC, zero IV, SDM Meta Read key = K1) and the SDMMAC
  calculation (session key from SV2 under the SDM File Read key = K2, MAC truncated to the
  odd-indexed bytes).
- Bolt Card docs/DETERMINISTIC.md "Keys generation": CardKey, K0..K4 and the card ID from one
  16-byte IssuerKey with AES-CMAC (NIST SP 800-38B) as the PRF.
"""

from __future__ import annotations

import hmac
import os
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

KEY_SIZE = 16
UID_SIZE = 7
COUNTER_MAX = 0xFFFFFF  # the SDM read counter is 3 bytes on the chip
# AN12196 PICCDataTag 0xC7: UID mirrored, read counter mirrored, UID length 7.
PICC_DATA_TAG = 0xC7
# AN12196 SDMMAC session vector 2 prefix: 3CC3 | 0001 | 0080, then UID | SDMReadCtr.
SV2_PREFIX = bytes.fromhex("3CC300010080")
ZERO_IV = bytes(16)

# Bolt Card DETERMINISTIC.md derivation labels.
_LABEL_CARD_KEY = bytes.fromhex("2d003f75")
_LABEL_K0 = bytes.fromhex("2d003f76")
_LABEL_K1 = bytes.fromhex("2d003f77")
_LABEL_K2 = bytes.fromhex("2d003f78")
_LABEL_K3 = bytes.fromhex("2d003f79")
_LABEL_K4 = bytes.fromhex("2d003f7a")
_LABEL_ID = bytes.fromhex("2d003f7b")


class SunError(ValueError):
    """A SUN message (p, c) that does not decrypt or authenticate; ``reason`` is machine-readable."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def aes_cmac(key: bytes, message: bytes) -> bytes:
    """AES-128-CMAC (NIST SP 800-38B), the PRF of both AN12196 and the Bolt Card key scheme."""
    _check_key(key)
    mac = cmac.CMAC(algorithms.AES(key))
    mac.update(message)
    return mac.finalize()


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise ValueError("AES-128 keys are 16 bytes")


def _check_uid(uid: bytes) -> None:
    if not isinstance(uid, bytes) or len(uid) != UID_SIZE:
        raise ValueError("an NTAG 424 DNA UID is 7 bytes")


def _check_counter(counter: int) -> None:
    if isinstance(counter, bool) or not isinstance(counter, int) or not 0 <= counter <= COUNTER_MAX:
        raise ValueError("the SUN counter is an int in 0..0xFFFFFF")


def parse_hex(value: str, *, size: int, name: str) -> bytes:
    """Strict hex of an exact byte length; raises ValueError with a message fit for a user."""
    if not isinstance(value, str) or len(value) != size * 2:
        raise ValueError(f"{name} must be {size * 2} hex characters")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{name} must be hexadecimal")


# --- SUN (AN12196) -------------------------------------------------------------------------


def _sun_mac(*, k2: bytes, uid: bytes, counter_le: bytes) -> bytes:
    """The 8-byte SDMMAC over an empty input, as the card mirrors it into ``c=``."""
    session_key = aes_cmac(k2, SV2_PREFIX + uid + counter_le)
    full = aes_cmac(session_key, b"")
    # AN12196: the MAC is truncated to the bytes at odd indexes (1, 3, ..., 15).
    return full[1::2]


@dataclass(frozen=True)
class PiccData:
    uid: bytes
    counter: int


def sun_decrypt(*, p: bytes, k1: bytes) -> PiccData:
    """Decrypt ``p`` (AES-128-CBC, zero IV, K1) into UID and counter; raises SunError."""
    _check_key(k1)
    if len(p) != 16:
        raise SunError("bad-format", "p must be 16 bytes")
    decryptor = Cipher(algorithms.AES(k1), modes.CBC(ZERO_IV)).decryptor()
    plain = decryptor.update(p) + decryptor.finalize()
    if plain[0] != PICC_DATA_TAG:
        raise SunError("bad-tag", "p does not decrypt to PICCData (wrong key or tampered)")
    uid = plain[1:8]
    counter = int.from_bytes(plain[8:11], "little")
    return PiccData(uid=uid, counter=counter)


def sun_verify(*, p: bytes, c: bytes, k1: bytes, k2: bytes) -> PiccData:
    """Decrypt ``p`` and authenticate ``c``; returns (uid, counter) or raises SunError.

    The counter is returned as read: whether it is fresh (strictly above the last one seen) is
    the caller's decision, made atomically against the database.
    """
    if len(c) != 8:
        raise SunError("bad-format", "c must be 8 bytes")
    picc = sun_decrypt(p=p, k1=k1)
    expected = _sun_mac(k2=k2, uid=picc.uid, counter_le=picc.counter.to_bytes(3, "little"))
    if not hmac.compare_digest(expected, c):
        raise SunError("bad-mac", "c does not authenticate p")
    return picc


def sun_verify_hex(*, p_hex: str, c_hex: str, k1: bytes, k2: bytes) -> PiccData:
    """``sun_verify`` for the hex strings of an ``lnurlw://...?p=..&c=..`` tap."""
    try:
        p = parse_hex(p_hex, size=16, name="p")
        c = parse_hex(c_hex, size=8, name="c")
    except ValueError as exc:
        raise SunError("bad-format", str(exc))
    return sun_verify(p=p, c=c, k1=k1, k2=k2)


def sun_make(
    *, uid: bytes, counter: int, k1: bytes, k2: bytes, padding: bytes | None = None
) -> tuple[bytes, bytes]:
    """The inverse of ``sun_verify``: the (p, c) a card would write, to simulate taps.

    Real chips fill the last 5 bytes of PICCData with random bytes; pass ``padding`` to pin it.
    """
    _check_key(k1)
    _check_uid(uid)
    _check_counter(counter)
    if padding is None:
        padding = os.urandom(5)
    if len(padding) != 5:
        raise ValueError("padding is 5 bytes")
    counter_le = counter.to_bytes(3, "little")
    plain = bytes([PICC_DATA_TAG]) + uid + counter_le + padding
    encryptor = Cipher(algorithms.AES(k1), modes.CBC(ZERO_IV)).encryptor()
    p = encryptor.update(plain) + encryptor.finalize()
    return p, _sun_mac(k2=k2, uid=uid, counter_le=counter_le)


# --- Deterministic keys (Bolt Card DETERMINISTIC.md) ---------------------------------------


@dataclass(frozen=True)
class CardKeys:
    k0: bytes
    k1: bytes
    k2: bytes
    k3: bytes
    k4: bytes

    def as_hex(self) -> dict[str, str]:
        return {name: getattr(self, name).hex() for name in ("k0", "k1", "k2", "k3", "k4")}


def encryption_key(issuer_key: bytes) -> bytes:
    """K1 = PRF(IssuerKey, 2d003f77): shared by every card of one issuer key, so a tap's ``p``
    decrypts without knowing the card first."""
    return aes_cmac(issuer_key, _LABEL_K1)


def card_chip_id(*, issuer_key: bytes, uid: bytes) -> bytes:
    """ID = PRF(IssuerKey, 2d003f7b | UID): the lookup key of a card, independent of version."""
    _check_uid(uid)
    return aes_cmac(issuer_key, _LABEL_ID + uid)


def card_key(*, issuer_key: bytes, uid: bytes, version: int) -> bytes:
    """CardKey = PRF(IssuerKey, 2d003f75 | UID | Version), Version 4 bytes little-endian."""
    _check_uid(uid)
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= 0xFFFFFFFF:
        raise ValueError("the key version is an int in 0..2**32-1")
    return aes_cmac(issuer_key, _LABEL_CARD_KEY + uid + struct.pack("<I", version))


def derive_card_keys(*, issuer_key: bytes, uid: bytes, version: int) -> CardKeys:
    """K0..K4 of one card at one key version."""
    ck = card_key(issuer_key=issuer_key, uid=uid, version=version)
    return CardKeys(
        k0=aes_cmac(ck, _LABEL_K0),
        k1=encryption_key(issuer_key),
        k2=aes_cmac(ck, _LABEL_K2),
        k3=aes_cmac(ck, _LABEL_K3),
        k4=aes_cmac(ck, _LABEL_K4),
    )
