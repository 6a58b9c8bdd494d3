"""The standard columns of a kind of retried work, as an abstract model to subclass."""
from __future__ import annotations

from django.db import models
from django.utils import timezone


class RetriedWork(models.Model):
    """A row that workers attempt until it is done or given up.

    ``next_attempt_at`` is when the row is due: after a failure, the backoff; while a worker holds
    it, the end of its lease (a worker that dies is replaced once it passes); NULL while the row
    waits for its turn in a lane. A subclass may redeclare a column to keep the type it was
    created with (the engine reads lengths from the model).
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed (gave up)"

    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # The error of the last attempt ("" after a success).
    last_error = models.TextField(blank=True, default="")

    class Meta:
        abstract = True

    @staticmethod
    def due_index(name: str) -> models.Index:
        """The sweep's index: pending rows by due time (what ``work_lock_next_due`` reads)."""
        return models.Index(fields=["next_attempt_at"], name=name, condition=models.Q(state="pending"))
