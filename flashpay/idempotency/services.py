"""Claiming, completing and releasing idempotency keys; purging expired ones."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from flashpay.errors import ApplicationError, Conflict
from flashpay.idempotency.models import IdempotencyRecord
from flashpay.idempotency.sealing import seal, unseal

# How long a key is remembered; clients retry within minutes, 24 h is Stripe's and BTCPay-world's habit.
KEY_TTL = timedelta(hours=24)


class KeyReused(ApplicationError):
    code = "idempotency-key-reused"
    status_code = 422


def idempotency_claim(*, principal: str, key: str, request_hash: str) -> tuple[IdempotencyRecord, bool]:
    """Insert the key before the write runs; returns (record, claimed).

    ``claimed`` False means the key was seen before and ``record`` is completed: replay it.
    The unique (principal, key) row is committed on its own, so a concurrent request with the same
    key fails its insert and is told 409 while the first one runs: the write never runs twice.
    """
    now = timezone.now()
    for _ in range(2):
        try:
            with transaction.atomic():
                record = IdempotencyRecord(
                    principal=principal, key=key, request_hash=request_hash, expires_at=now + KEY_TTL
                )
                record.full_clean(validate_constraints=False)
                record.save(force_insert=True)
            return record, True
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(principal=principal, key=key).first()
            if existing is None:
                continue  # released or purged between our insert and our read: try again
            if existing.expires_at <= now:
                # Expired: forget it and claim the key afresh. Deleting by id and state only
                # removes the stale row, never a concurrent fresh claim.
                IdempotencyRecord.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
                continue
            if existing.request_hash != request_hash:
                raise KeyReused(
                    "This Idempotency-Key was already used with a different request"
                )
            if existing.state != IdempotencyRecord.State.COMPLETED:
                raise Conflict(
                    "A request with this Idempotency-Key is still being processed; retry later",
                    code="idempotency-key-in-use",
                )
            return existing, False
    raise Conflict("Could not claim the Idempotency-Key; retry", code="idempotency-key-in-use")


def _aad(record: IdempotencyRecord) -> str:
    # Binds the ciphertext to its row: a body cannot be moved to another principal's key.
    return f"{record.principal}\0{record.key}\0{record.request_hash}"


def idempotency_complete(*, record: IdempotencyRecord, status: int, body: Any) -> IdempotencyRecord:
    record.state = IdempotencyRecord.State.COMPLETED
    record.response_status = status
    record.response_sealed = seal(body, aad=_aad(record))
    record.full_clean(validate_constraints=False)
    record.save(update_fields=["state", "response_status", "response_sealed"])
    return record


def idempotency_stored_response(*, record: IdempotencyRecord) -> tuple[int, Any]:
    """The (status, body) to replay for a completed record."""
    try:
        body = unseal(record.response_sealed, aad=_aad(record))
    except ValueError:
        raise Conflict(
            "The stored response for this Idempotency-Key can no longer be read; use a new key",
            code="idempotency-key-unreadable",
        )
    return record.response_status, body


def idempotency_release(*, record: IdempotencyRecord) -> None:
    """Forget a claim whose request failed without effect, so the client may retry with the key."""
    IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_PROGRESS).delete()


def idempotency_purge_expired() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
