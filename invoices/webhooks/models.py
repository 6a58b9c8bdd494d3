"""Webhooks of a store, their deliveries (one per webhook and event, plus manual redeliveries) and each HTTP attempt."""
from django.db import models
from django.db.models import Q
from django.utils import timezone

from flashpay.ids import new_id
from flashpay.work.models import RetriedWork
from invoices.webhooks.validators import validate_event_types, validate_webhook_url


def new_webhook_id() -> str:
    return new_id(16)


class Webhook(models.Model):
    """A merchant's endpoint (Greenfield ``WebhookData``); the signing secret is stored encrypted."""

    id = models.CharField(primary_key=True, max_length=40, default=new_webhook_id, editable=False)
    store = models.ForeignKey("accounts.Store", on_delete=models.CASCADE, related_name="webhooks")
    url = models.CharField(max_length=2000, validators=[validate_webhook_url])
    enabled = models.BooleanField(default=True)
    automatic_redelivery = models.BooleanField(default=True)
    # authorizedEvents: everything, or only the listed Greenfield event types.
    everything = models.BooleanField(default=True)
    specific_events = models.JSONField(default=list, blank=True, validators=[validate_event_types])
    # AES-GCM sealed secret (invoices.webhooks.sealing); never shown after creation.
    secret_sealed = models.BinaryField(editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"webhook {self.id} of {self.store_id}"


class WebhookDelivery(RetriedWork):
    """One signed request body sent to one webhook, with its automatic retries (``flashpay.work``).

    ``state`` is ours (is anything left to do); ``status`` is Greenfield's outcome of the last
    attempt (Failed = no HTTP answer, HttpError = non-2xx, HttpSuccess = 2xx) and ``last_error``
    its ``errorMessage``.
    """

    class Status(models.TextChoices):
        FAILED = "Failed"
        HTTP_ERROR = "HttpError"
        HTTP_SUCCESS = "HttpSuccess"

    id = models.CharField(primary_key=True, max_length=40, default=new_webhook_id, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey("events.Event", on_delete=models.PROTECT, related_name="+")
    event_type = models.CharField(max_length=100)
    # The first delivery of this event to this webhook, for redeliveries (null on the first one).
    original_delivery = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="redeliveries"
    )
    # The exact JSON text that is signed and sent (null once pruned).
    request_body = models.TextField(null=True, blank=True)  # noqa: DJ001 (null = pruned, not "")
    status = models.CharField(max_length=12, choices=Status.choices, blank=True, default="")
    http_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # The engine's columns, in the types and names this table was created with.
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="", db_column="error_message")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            # An event is delivered once per webhook; only redeliveries repeat it.
            models.UniqueConstraint(
                fields=["webhook", "event"],
                condition=Q(original_delivery__isnull=True),
                name="webhooks_delivery_once_per_event",
            ),
        ]
        indexes = [
            RetriedWork.due_index("webhooks_delivery_due"),
            models.Index(fields=["webhook", "-created_at"], name="webhooks_delivery_latest"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.id} ({self.event_type}) to {self.webhook_id}"

    @property
    def is_redelivery(self) -> bool:
        return self.original_delivery_id is not None


class WebhookDeliveryAttempt(models.Model):
    """One HTTP POST of a delivery: the log of what happened each time."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=12, choices=WebhookDelivery.Status.choices)
    http_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error_message = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhooks_attempt_unique"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.status} {self.http_code or ''}"
