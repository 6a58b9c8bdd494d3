"""Encryption of stored responses: a replayed body may hold a secret (a new API key's value)."""
from __future__ import annotations

import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_NONCE_BYTES = 12


def _key() -> bytes:
    # Derived from SECRET_KEY: records live 24 h, so a SECRET_KEY rotation only costs replays.
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"flashpay.idempotency.response"
    ).derive(settings.SECRET_KEY.encode())


def seal(body: Any, *, aad: str) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    plaintext = json.dumps(body, separators=(",", ":")).encode()
    return nonce + AESGCM(_key()).encrypt(nonce, plaintext, aad.encode())


def unseal(blob: bytes, *, aad: str) -> Any:
    """The stored body; raises ValueError if it cannot be decrypted (key rotated, tampered)."""
    blob = bytes(blob)
    try:
        plaintext = AESGCM(_key()).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad.encode())
    except InvalidTag:
        raise ValueError("stored response cannot be decrypted")
    return json.loads(plaintext)
