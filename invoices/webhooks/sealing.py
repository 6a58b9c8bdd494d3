"""Encryption at rest of webhook signing secrets (AES-256-GCM), which must stay usable to sign."""
from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_NONCE_BYTES = 12


def _key() -> bytes:
    # A dedicated key when configured, so rotating SECRET_KEY does not break every webhook;
    # otherwise derived from SECRET_KEY (which production already requires to be set).
    material = settings.WEBHOOKS_SECRET_ENCRYPTION_KEY or settings.SECRET_KEY
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"flashpay.webhooks.secret"
    ).derive(material.encode())


def secret_seal(*, secret: str, webhook_id: str) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    # The webhook id is authenticated data: a sealed secret copied onto another row will not open.
    return nonce + AESGCM(_key()).encrypt(nonce, secret.encode(), webhook_id.encode())


def secret_unseal(*, sealed: bytes, webhook_id: str) -> str:
    """The secret; raises ValueError if it cannot be decrypted (key changed, row tampered)."""
    sealed = bytes(sealed)
    try:
        plain = AESGCM(_key()).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], webhook_id.encode())
    except InvalidTag:
        raise ValueError("webhook secret cannot be decrypted")
    return plain.decode()
