"""Reads from the double-entry ledger: accounts, balances, history and reconciliation checks."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import BigIntegerField, Count, ExpressionWrapper, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from flashpay.errors import NotFound
from flashpay.ledger.models import Account, AccountKind, Entry, Transaction, TransactionStatus
from flashpay.money import Msat


@dataclass(frozen=True)
class Balance:
    """An account's balances. ``available`` = posted minus outgoing reservations (pending debits);
    incoming pending money (``pending_credit``) is not available until its hold is posted."""

    posted: Msat
    pending_debit: Msat
    pending_credit: Msat

    @property
    def available(self) -> Msat:
        return self.posted - self.pending_debit


@dataclass(frozen=True)
class BalanceMismatch:
    """An account whose cached balances differ from what its entries say."""

    account_id: int
    account: str
    cached: Balance
    computed: Balance


def account_get(*, kind: AccountKind | str, reference: str) -> Account:
    """The account for (kind, reference); NotFound if none was created yet."""
    try:
        return Account.objects.get(kind=kind, reference=reference)
    except Account.DoesNotExist:
        raise NotFound(f"no ledger account {kind}:{reference}")


def account_balance(*, account: Account | int) -> Balance:
    """The account's current balances as committed (read fresh, not from the passed object)."""
    account_id = account.pk if isinstance(account, Account) else account
    row = (
        Account.objects.filter(pk=account_id)
        .values("posted_msat", "pending_debit_msat", "pending_credit_msat")
        .first()
    )
    if row is None:
        raise NotFound(f"ledger account {account_id} does not exist")
    return Balance(
        posted=Msat(row["posted_msat"]),
        pending_debit=Msat(row["pending_debit_msat"]),
        pending_credit=Msat(row["pending_credit_msat"]),
    )


def _msat_sum(expression, **filters):
    """SUM(...) as a bigint that is 0 rather than NULL when no entry matches."""
    big = BigIntegerField()
    total = Sum(expression, filter=Q(**filters) if filters else None, output_field=big)
    return Coalesce(total, Value(0), output_field=big)


def _entry_sums(prefix: str = ""):
    """Aggregates that recompute the three balances from entries (optionally via a relation)."""
    amount = f"{prefix}amount_msat"
    status = f"{prefix}transaction__status"
    pending = TransactionStatus.PENDING
    return {
        "sum_posted": _msat_sum(amount, **{status: TransactionStatus.POSTED}),
        "sum_pending_debit": _msat_sum(
            ExpressionWrapper(-F(amount), output_field=BigIntegerField()),
            **{status: pending, f"{amount}__lt": 0},
        ),
        "sum_pending_credit": _msat_sum(amount, **{status: pending, f"{amount}__gt": 0}),
    }


def account_balance_from_entries(*, account: Account | int) -> Balance:
    """The balances recomputed from the entries (slow; what reconciliation trusts)."""
    account_id = account.pk if isinstance(account, Account) else account
    sums = Entry.objects.filter(account_id=account_id).aggregate(**_entry_sums())
    return Balance(
        posted=Msat(sums["sum_posted"]),
        pending_debit=Msat(sums["sum_pending_debit"]),
        pending_credit=Msat(sums["sum_pending_credit"]),
    )


def account_entry_list(*, account: Account | int) -> QuerySet[Entry]:
    """The account's entries, newest first, with their transactions (for history pages)."""
    account_id = account.pk if isinstance(account, Account) else account
    return Entry.objects.filter(account_id=account_id).select_related("transaction").order_by("-id")


def transaction_get(*, idempotency_key: str) -> Transaction:
    """The transaction posted or held under ``idempotency_key``; NotFound if there is none."""
    try:
        return Transaction.objects.get(idempotency_key=idempotency_key)
    except Transaction.DoesNotExist:
        raise NotFound(f"no ledger transaction with idempotency key {idempotency_key!r}")


def hold_pending_list(*, created_before: datetime | None = None) -> QuerySet[Transaction]:
    """Holds still pending, oldest first (optionally only those made before a moment): what a
    reconciliation of unknown payment outcomes walks through. Served by a partial index."""
    holds = Transaction.objects.filter(status=TransactionStatus.PENDING)
    if created_before is not None:
        holds = holds.filter(created_at__lt=created_before)
    return holds.order_by("created_at", "pk")


def transaction_entry_list(*, transaction: Transaction | int) -> list[tuple[Account, Msat]]:
    """The (account, amount) legs of a transaction, in the order they were written."""
    transaction_id = transaction.pk if isinstance(transaction, Transaction) else transaction
    entries = Entry.objects.filter(transaction_id=transaction_id).select_related("account")
    return [(entry.account, entry.amount) for entry in entries.order_by("id")]


def account_balance_mismatch_list() -> list[BalanceMismatch]:
    """Accounts whose cached balances disagree with their entries.

    One SQL statement, so on PostgreSQL caches and entries are read from one snapshot and
    postings committing meanwhile cannot show up as false mismatches.
    """
    rows = Account.objects.annotate(**_entry_sums("entries__")).filter(
        ~Q(posted_msat=F("sum_posted"))
        | ~Q(pending_debit_msat=F("sum_pending_debit"))
        | ~Q(pending_credit_msat=F("sum_pending_credit"))
    )
    return [
        BalanceMismatch(
            account_id=row.pk,
            account=str(row),
            cached=Balance(
                posted=Msat(row.posted_msat),
                pending_debit=Msat(row.pending_debit_msat),
                pending_credit=Msat(row.pending_credit_msat),
            ),
            computed=Balance(
                posted=Msat(row.sum_posted),
                pending_debit=Msat(row.sum_pending_debit),
                pending_credit=Msat(row.sum_pending_credit),
            ),
        )
        for row in rows.order_by("pk")
    ]


def ledger_posted_total() -> Msat:
    """The sum of every posted entry: zero in a sound ledger (money is neither made nor lost)."""
    total = Entry.objects.filter(transaction__status=TransactionStatus.POSTED).aggregate(
        total=_msat_sum("amount_msat")
    )["total"]
    return Msat(total)


def transaction_unbalanced_id_list() -> list[int]:
    """Ids of transactions whose entries do not sum to zero or number fewer than two.

    PostgreSQL's trigger makes these impossible; on SQLite only the services guard the rule.
    """
    return list(
        Transaction.objects.annotate(
            total=_msat_sum("entries__amount_msat"), legs=Count("entries")
        )
        .filter(~Q(total=0) | Q(legs__lt=2))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


@dataclass(frozen=True)
class Receivable:
    """Money somebody owes the program: a receivable account whose balance is below zero."""

    account_id: int
    account: str
    owed: Msat


def receivable_list() -> list[Receivable]:
    """Receivable accounts that are owed something, largest debt first."""
    rows = Account.objects.filter(kind=AccountKind.RECEIVABLE, posted_msat__lt=0).order_by("posted_msat", "pk")
    return [Receivable(account_id=row.pk, account=str(row), owed=Msat(-row.posted_msat)) for row in rows]
