"""Issuer keys at rest: AES-256-GCM under the key-encryption key from settings.

The KEK (settings.CARD_KEY_ENCRYPTION_KEY, 32 bytes as 64 hex characters) never touches the
database, so a database dump alone yields no card key. Each ciphertext is bound to its row by
the associated data, so a ciphertext copied onto another IssuerKey row does not decrypt.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from cards.crypto import KEY_SIZE

NONCE_SIZE = 12
_FORMAT = b"\x01"  # version byte of the stored blob: 01 | nonce (12) | ciphertext+tag


class KeyDecryptionError(Exception):
    """A stored key that does not decrypt under the configured KEK (wrong KEK or tampered row)."""


def _kek() -> bytes:
    raw = settings.CARD_KEY_ENCRYPTION_KEY
    try:
        kek = bytes.fromhex(raw)
    except (TypeError, ValueError):
        kek = b""
    if len(kek) != 32:
        raise ImproperlyConfigured("CARD_KEY_ENCRYPTION_KEY must be 64 hex characters (32 bytes)")
    return kek


def _aad(ref: str) -> bytes:
    return b"flashpay:cards:issuer-key:" + ref.encode()


def seal_key(*, key: bytes, ref: str) -> bytes:
    """Encrypt a 16-byte AES key for storage in the row identified by ``ref``."""
    if len(key) != KEY_SIZE:
        raise ValueError("issuer keys are 16 bytes")
    nonce = os.urandom(NONCE_SIZE)
    return _FORMAT + nonce + AESGCM(_kek()).encrypt(nonce, key, _aad(ref))


def open_key(*, blob: bytes, ref: str) -> bytes:
    """Decrypt a stored key; raises KeyDecryptionError rather than returning garbage."""
    blob = bytes(blob)
    if len(blob) < 1 + NONCE_SIZE + 16 or blob[:1] != _FORMAT:
        raise KeyDecryptionError("stored key has an unknown format")
    nonce, ciphertext = blob[1 : 1 + NONCE_SIZE], blob[1 + NONCE_SIZE :]
    try:
        return AESGCM(_kek()).decrypt(nonce, ciphertext, _aad(ref))
    except InvalidTag:
        raise KeyDecryptionError("stored key does not decrypt under CARD_KEY_ENCRYPTION_KEY")
