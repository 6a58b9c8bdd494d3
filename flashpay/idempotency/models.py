"""The stored outcome of an API write, keyed by the client's Idempotency-Key."""
from django.db import models


class IdempotencyRecord(models.Model):
    """One client key: inserted before the write runs, completed with the response it produced."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"

    # Who sent the key ("user:<id>"): keys of different users never collide.
    principal = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    # SHA-256 of method, path and canonical JSON body: the same key with another request is refused.
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # The response body, AES-GCM encrypted (see sealing.py): it may contain a secret.
    response_sealed = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["principal", "key"], name="idempotency_principal_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.principal} {self.key} ({self.state})"
