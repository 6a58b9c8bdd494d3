"""Encryption at rest of secrets FlashPay must use again (webhook signing secrets, store SMTP passwords): AES-256-GCM."""
from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_NONCE_BYTES = 12


def _key(purpose: bytes) -> bytes:
    # A dedicated key when configured, so rotating SECRET_KEY does not break every webhook;
    # otherwise derived from SECRET_KEY (which production already requires to be set).
    material = settings.WEBHOOKS_SECRET_ENCRYPTION_KEY or settings.SECRET_KEY
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(material.encode())


def seal(*, plaintext: str, purpose: bytes, aad: str) -> bytes:
    """Encrypt; ``aad`` (the owning row's id) is authenticated, so a blob copied to another row will not open."""
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(_key(purpose)).encrypt(nonce, plaintext.encode(), aad.encode())


def unseal(*, sealed: bytes, purpose: bytes, aad: str) -> str:
    """The plaintext; raises ValueError if it cannot be decrypted (key changed, row tampered)."""
    sealed = bytes(sealed)
    try:
        plain = AESGCM(_key(purpose)).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], aad.encode())
    except InvalidTag:
        raise ValueError("secret cannot be decrypted")
    return plain.decode()


_WEBHOOK = b"flashpay.webhooks.secret"


def secret_seal(*, secret: str, webhook_id: str) -> bytes:
    return seal(plaintext=secret, purpose=_WEBHOOK, aad=webhook_id)


def secret_unseal(*, sealed: bytes, webhook_id: str) -> str:
    return unseal(sealed=sealed, purpose=_WEBHOOK, aad=webhook_id)
