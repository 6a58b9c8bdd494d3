"""The outbox tables: domain events and one delivery row per (event, handler)."""
from django.db import models
from django.utils import timezone

from flashpay.work.models import RetriedWork


class Event(models.Model):
    """A domain event, written in the same transaction as the state change it records.

    Rows are append-only: an event is a fact. Delivery state lives on ``EventDelivery``.
    """

    type = models.CharField(max_length=100)
    aggregate_type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=100)
    payload = models.JSONField(default=dict, blank=True)
    # A natural key from the source (e.g. "lnd:settle:<payment_hash>") so that recording the
    # same outside fact twice emits the event once.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001 (NULLs never conflict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-id"]
        # Plain index and constraint, not db_index/unique=True: those add a LIKE-pattern index per
        # text column on PostgreSQL, one more index to update on every event.
        indexes = [
            models.Index(fields=["aggregate_type", "aggregate_id"]),
            models.Index(fields=["type"], name="events_event_type"),
        ]
        constraints = [models.UniqueConstraint(fields=["idempotency_key"], name="events_event_idempotency_key_unique")]

    def __str__(self) -> str:
        return f"{self.type} {self.aggregate_type}:{self.aggregate_id} (#{self.pk})"


class EventDelivery(RetriedWork):
    """Delivery of one event to one handler, at least once; the handler must be idempotent.

    Retried work (``flashpay.work``): while a worker runs the handler, ``next_attempt_at`` is its
    retry time too, so if the worker dies the sweep picks the delivery up again once it is due.
    """

    # The engine's ``state``, in the column this table was created with.
    state = models.CharField(
        max_length=10, choices=RetriedWork.State.choices, default=RetriedWork.State.PENDING, db_column="status"
    )
    # indexed by events_delivery_unique, which starts with it
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    handler = models.CharField(max_length=255)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "handler"], name="events_delivery_unique"),
        ]
        # The sweep's query: due pending deliveries, oldest first.
        indexes = [RetriedWork.due_index("events_delivery_due")]

    def __str__(self) -> str:
        return f"{self.handler} <- event #{self.event_id} ({self.state})"
