"""Issuer keys: the secrets every card's keys are derived from (Bolt Card DETERMINISTIC.md).

No per-card secret is stored: K0..K4 are derived on demand from the card's IssuerKey (stored
AES-GCM-encrypted under settings.CARD_KEY_ENCRYPTION_KEY, cards/keys.py), its UID and its key
version (cards/crypto.py). One key is active for new programming; retired keys still verify the
cards programmed with them.
"""

from __future__ import annotations

import os

from django.db import IntegrityError, transaction
from django.utils import timezone

from cards import crypto
from cards.keys import seal_key
from cards.locks import issuer_keys_lock_all
from cards.models import IssuerKey
from cards.selectors import issuer_key_active_get
from flashpay.errors import FieldError


@transaction.atomic
def issuer_key_create(
    *, label: str = "", activate: bool = True, key: bytes | None = None
) -> IssuerKey:
    """A new random IssuerKey (or an imported one), encrypted at rest; optionally made active."""
    secret = key if key is not None else os.urandom(crypto.KEY_SIZE)
    if len(secret) != crypto.KEY_SIZE:
        raise FieldError("key", "issuer keys are 16 bytes")
    issuer_key = IssuerKey(label=label, is_active=False)
    issuer_key.encrypted_key = seal_key(key=secret, ref=issuer_key.ref)
    issuer_key.full_clean()
    issuer_key.save()
    if activate:
        issuer_key = issuer_key_activate(issuer_key=issuer_key)
    return issuer_key


@transaction.atomic
def issuer_key_activate(*, issuer_key: IssuerKey) -> IssuerKey:
    """Make one key the active one for new programming; the previous one is retired (it still
    verifies the cards programmed with it)."""
    now = timezone.now()
    for key in issuer_keys_lock_all():
        if key.is_active and key.pk != issuer_key.pk:
            key.is_active = False
            key.retired_at = now
            key.full_clean()
            key.save(update_fields=["is_active", "retired_at"])
    issuer_key.refresh_from_db()
    issuer_key.is_active = True
    issuer_key.retired_at = None
    issuer_key.full_clean()
    issuer_key.save(update_fields=["is_active", "retired_at"])
    return issuer_key


def issuer_key_ensure_active() -> IssuerKey:
    """The active IssuerKey, creating the first one on a fresh install."""
    active = issuer_key_active_get()
    if active is not None:
        return active
    try:
        with transaction.atomic():
            return issuer_key_create(label="initial", activate=True)
    except IntegrityError:
        # Another process created it concurrently (one-active constraint).
        active = issuer_key_active_get()
        if active is None:
            raise
        return active
