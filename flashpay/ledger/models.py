"""The double-entry ledger's tables: accounts with cached balances, transactions and their entries."""
from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from flashpay.money import Msat


class AccountKind(models.TextChoices):
    CARD = "card", "Flash Card"
    MERCHANT = "merchant", "Merchant"
    MEMBER = "member", "Rewards member"
    PROGRAM_BUDGET = "program_budget", "Program budget"
    FEES = "fees", "Fees"
    NODE = "node", "Node"
    EXTERNAL = "external", "External"
    # What somebody owes the program (a card holder who spent a top-up a reorg took back): a
    # program-side asset, so it may go negative; its balance is minus what is owed.
    RECEIVABLE = "receivable", "Receivable"


# Accounts that hold somebody else's money must never go below zero. The program-side accounts
# (the node's hot wallet, the outside world, budgets and fees) are the counterparties and may.
# A tuple, not a set: its order lands in a migration and must not vary between runs.
NON_NEGATIVE_KINDS = (AccountKind.CARD, AccountKind.MERCHANT, AccountKind.MEMBER)


class Account(models.Model):
    """One balance in the ledger, named by (kind, reference): e.g. ("card", <card id>).

    The three ``*_msat`` columns are caches of the entries, kept in the same database transaction
    as every posting (summing entries per posting would not scale) and checked by
    ``ledger_reconcile``. Sign convention: an entry's positive amount raises the balance.
    """

    kind = models.CharField(max_length=32, choices=AccountKind.choices)
    # Another app's id (store id, card id, ...); the ledger deliberately knows nothing about it.
    reference = models.CharField(max_length=128)
    name = models.CharField(max_length=200, blank=True)
    allow_negative = models.BooleanField(default=False)
    posted_msat = models.BigIntegerField(default=0, editable=False)
    # Sums of the absolute amounts of entries in pending transactions, split by direction.
    pending_debit_msat = models.BigIntegerField(default=0, editable=False)
    pending_credit_msat = models.BigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "reference"], name="ledger_account_kind_reference"),
            # Backstop under the service's check: available = posted - pending debits >= 0.
            models.CheckConstraint(
                condition=Q(allow_negative=True) | Q(posted_msat__gte=F("pending_debit_msat")),
                name="ledger_account_available_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(pending_debit_msat__gte=0) & Q(pending_credit_msat__gte=0),
                name="ledger_account_pending_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(allow_negative=False) | ~Q(kind__in=[kind.value for kind in NON_NEGATIVE_KINDS]),
                name="ledger_account_customer_kinds_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.reference}" + (f" ({self.name})" if self.name else "")

    @property
    def posted(self) -> Msat:
        return Msat(self.posted_msat)

    @property
    def available(self) -> Msat:
        """Posted money minus outgoing reservations; incoming pending money does not count yet."""
        return Msat(self.posted_msat - self.pending_debit_msat)


class TransactionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    POSTED = "posted", "Posted"
    VOIDED = "voided", "Voided"


# The only moves a transaction can make (also enforced by a trigger on PostgreSQL).
TRANSACTION_TRANSITIONS: dict[str, frozenset[str]] = {
    TransactionStatus.PENDING: frozenset({TransactionStatus.POSTED, TransactionStatus.VOIDED}),
    TransactionStatus.POSTED: frozenset(),
    TransactionStatus.VOIDED: frozenset(),
}


class Transaction(models.Model):
    """Two or more entries that sum to zero, posted at once or held (pending) then posted/voided."""

    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=16, choices=TransactionStatus.choices)
    # Made by hold_create (reserve first) rather than transaction_post; tells replays apart.
    is_hold = models.BooleanField(default=False, editable=False)
    description = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # A mistake is undone by a mirror transaction. A transaction is reversed at most once: a
    # partial unique index (below) rather than one-to-one, so the many rows that reverse
    # nothing cost no index entry on the hot insert path.
    reverses = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversals",
        db_index=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["reverses"],
                condition=Q(reverses__isnull=False),
                name="ledger_txn_reversed_once",
            ),
        ]
        # Holds still pending, oldest first (reconciliation of unknown outcomes); partial, so
        # postings that are posted at once never touch it.
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(status="pending"),
                name="ledger_txn_pending_created",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.status} {self.idempotency_key}"


class Entry(models.Model):
    """One leg of a transaction: an amount added to (positive) or taken from (negative) an account.

    Append-only: never updated or deleted (a trigger refuses it on PostgreSQL).
    """

    # No single-column indexes: the unique (transaction, account) and the (account, -id) indexes
    # below serve those lookups, and every index costs on the hot insert path.
    transaction = models.ForeignKey(
        Transaction, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    amount_msat = models.BigIntegerField()

    class Meta:
        verbose_name_plural = "entries"
        constraints = [
            models.CheckConstraint(condition=~Q(amount_msat=0), name="ledger_entry_amount_not_zero"),
            models.UniqueConstraint(
                fields=["transaction", "account"], name="ledger_entry_one_per_account"
            ),
        ]
        indexes = [models.Index(fields=["account", "-id"], name="ledger_entry_account_id")]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.amount_msat:+d} msat"

    @property
    def amount(self) -> Msat:
        return Msat(self.amount_msat)
