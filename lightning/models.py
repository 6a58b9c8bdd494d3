"""Models of the lightning app: invoices FlashPay's node minted and the settled-invoice cursor."""
from django.db import models


class LightningInvoice(models.Model):
    """A Lightning invoice on our node. Matched to payments by payment hash only."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        SETTLED = "settled", "Settled"
        CANCELED = "canceled", "Canceled"

    node_pubkey = models.CharField(max_length=66)
    payment_hash = models.CharField(max_length=64)
    bolt11 = models.TextField()
    # Null for an any-amount invoice (TopUp).
    amount_msat = models.BigIntegerField(null=True, blank=True)
    memo = models.CharField(max_length=639, blank=True)
    description_hash = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    expires_at = models.DateTimeField()
    settle_index = models.BigIntegerField(null=True, blank=True)
    amount_received_msat = models.BigIntegerField(null=True, blank=True)
    preimage = models.CharField(max_length=64, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    # Paid by a Flash Card inside the ledger (lightning_invoice_settle_internally): the node never
    # saw the payment, so there is no settle index.
    settled_internally = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # a constraint rather than unique=True: no LIKE-pattern twin index to update per invoice
            models.UniqueConstraint(fields=["payment_hash"], name="lightning_invoice_payment_hash_unique"),
            models.CheckConstraint(
                condition=models.Q(amount_msat__isnull=True) | models.Q(amount_msat__gt=0),
                name="lightning_invoice_amount_positive",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="settled")
                | (
                    (models.Q(settle_index__isnull=False) | models.Q(settled_internally=True))
                    & models.Q(amount_received_msat__isnull=False)
                ),
                name="lightning_invoice_settled_has_index",
            ),
        ]
        indexes = [models.Index(fields=["node_pubkey", "status"])]

    def __str__(self) -> str:
        return f"{self.payment_hash[:12]}… {self.status}"


class LightningSettleCursor(models.Model):
    """The last settle index of a node whose settlement is recorded; advances with each record."""

    node_pubkey = models.CharField(max_length=66, unique=True)
    settle_index = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.node_pubkey[:12]}… @ {self.settle_index}"
