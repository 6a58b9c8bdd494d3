"""Store e-mail rules (trigger, recipients, templates) and the messages they produced, one per rule and event."""
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, validate_email
from django.db import models
from django.db.models import Q
from django.utils import timezone

from flashpay.work.models import RetriedWork
from invoices.webhooks.validators import INVOICE_EVENT_TYPES


def validate_address_list(value: str) -> None:
    """Comma-separated e-mail addresses (BTCPay's rule "To" field)."""
    for address in (a.strip() for a in value.split(",")):
        if not address:
            continue
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError(f"{address!r} is not a valid e-mail address.")


class EmailRule(models.Model):
    """When an invoice event of ``trigger`` happens in the store, send this e-mail.

    Placeholders such as ``{Invoice.Id}`` in the subject and body are filled from the event
    (see invoices.emails.templating).
    """

    Trigger = models.TextChoices("Trigger", [(t, t) for t in INVOICE_EVENT_TYPES])

    store = models.ForeignKey("accounts.Store", on_delete=models.CASCADE, related_name="email_rules")
    trigger = models.CharField(max_length=100, choices=Trigger.choices)
    to = models.CharField(
        max_length=1000, blank=True, default="", validators=[validate_address_list],
        help_text="Merchant addresses, comma separated.",
    )
    customer_email = models.BooleanField(
        default=False, help_text="Also send to the buyer (the invoice's metadata.buyerEmail), if given."
    )
    subject = models.CharField(max_length=500)
    body = models.TextField()
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["store", "created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(to="") | Q(customer_email=True), name="emails_rule_has_recipient",
                violation_error_message="Give merchant addresses, or send to the buyer, or both.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trigger} e-mail of {self.store_id}: {self.subject}"


class StoreEmailSettings(models.Model):
    """A store's own SMTP server (Greenfield ``EmailSettings``); without it, FlashPay's server sends.

    The password is stored encrypted (invoices.webhooks.sealing) and never shown again.
    """

    store = models.OneToOneField("accounts.Store", on_delete=models.CASCADE, related_name="email_settings")
    from_email = models.CharField(max_length=254, validators=[validate_email])
    server = models.CharField(max_length=253)
    port = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(65535)])
    login = models.CharField(max_length=254, blank=True, default="")
    password_sealed = models.BinaryField(null=True, blank=True, editable=False)
    disable_certificate_check = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "store e-mail settings"

    def __str__(self) -> str:
        return f"SMTP {self.server}:{self.port} of {self.store_id}"


class EmailMessage(RetriedWork):
    """An e-mail to send: made by a rule for one event (rendered once, so a retry sends the same
    text), or asked for through the API (then without rule and event). Retried work (``flashpay.work``)."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (gave up)"
        SKIPPED = "skipped", "Skipped (no recipient)"

    store = models.ForeignKey("accounts.Store", on_delete=models.CASCADE, related_name="email_messages")
    rule = models.ForeignKey(
        EmailRule, on_delete=models.CASCADE, null=True, blank=True, related_name="messages"
    )
    event = models.ForeignKey("events.Event", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # The merchant addresses of the rule, and the buyer's (metadata.buyerEmail) if the rule mails the buyer.
    recipients = models.JSONField(default=list, blank=True)
    buyer_email = models.CharField(max_length=254, blank=True, default="")
    subject = models.CharField(max_length=1000)
    body = models.TextField()
    # Set when the rule's body is HTML; ``body`` is then its plain-text alternative.
    body_html = models.TextField(blank=True, default="")
    # The engine's columns, with this kind's states ("sent" is its "done") and the types they were created with.
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "event"], name="emails_message_once_per_event"),
        ]
        indexes = [RetriedWork.due_index("emails_message_due")]

    def __str__(self) -> str:
        return f"{self.subject} ({self.state})"
