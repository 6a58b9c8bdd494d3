"""Models of the invoices app: on-chain wallets (descriptors, watched addresses), payments and the chain cursor."""
from django.db import models
from django.db.models import Q
from django.utils import timezone


class OnchainDescriptor(models.Model):
    """A store's watch-only wallet as a canonical output descriptor (receive branch, with checksum).

    ``next_index`` is the next receive index to hand out; ``imported_until`` is the last index the
    node's watch-only wallet is known to derive (importdescriptors range end), -1 before any import.
    """

    descriptor = models.CharField(max_length=2000, unique=True)
    network = models.CharField(max_length=16)
    script_type = models.CharField(max_length=32)
    next_index = models.PositiveIntegerField(default=0)
    imported_until = models.IntegerField(default=-1)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(imported_until__gte=-1), name="onchain_descriptor_imported_until_gte_m1"),
        ]

    def __str__(self) -> str:
        return f"{self.script_type} {self.descriptor[:40]}..."


class WatchedAddress(models.Model):
    """An address whose incoming payments we record: derived from a descriptor, or imported alone."""

    address = models.CharField(max_length=100, unique=True)
    descriptor = models.ForeignKey(
        OnchainDescriptor, null=True, blank=True, on_delete=models.PROTECT, related_name="addresses"
    )
    derivation_index = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["descriptor", "derivation_index"], name="onchain_address_unique_index"),
            # an index exactly when derived from a descriptor
            models.CheckConstraint(
                condition=Q(descriptor__isnull=True, derivation_index__isnull=True)
                | Q(descriptor__isnull=False, derivation_index__isnull=False),
                name="onchain_address_index_iff_descriptor",
            ),
        ]

    def __str__(self) -> str:
        return self.address


class OnchainPayment(models.Model):
    """One output (txid:vout) paying a watched address, as the node reported it.

    ``revision`` counts status changes; it makes each transition's event key unique, so a re-run
    of the same sync step emits nothing twice while a later, real change (a reorg) still does.
    """

    class Status(models.TextChoices):
        SEEN = "seen", "Seen (unconfirmed)"
        CONFIRMED = "confirmed", "Confirmed"
        REMOVED = "removed", "Removed (reorged out or double-spent)"

    txid = models.CharField(max_length=64)
    vout = models.PositiveIntegerField()
    address = models.ForeignKey(WatchedAddress, on_delete=models.PROTECT, related_name="payments")
    amount_msat = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices)
    block_hash = models.CharField(max_length=64, blank=True, default="")
    block_height = models.IntegerField(null=True, blank=True)
    revision = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["txid", "vout"], name="onchain_payment_unique_outpoint"),
            models.CheckConstraint(condition=Q(amount_msat__gt=0), name="onchain_payment_amount_positive"),
            models.CheckConstraint(
                condition=(Q(status="confirmed", block_height__isnull=False) & ~Q(block_hash=""))
                | (~Q(status="confirmed") & Q(block_hash="", block_height__isnull=True)),
                name="onchain_payment_block_iff_confirmed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.txid}:{self.vout} {self.status}"


class ChainCursor(models.Model):
    """The last block the watcher fully processed for one node wallet (listsinceblock resumes here)."""

    wallet = models.CharField(max_length=100, unique=True)
    block_hash = models.CharField(max_length=64)
    block_height = models.IntegerField()
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.wallet} @ {self.block_height} {self.block_hash}"
