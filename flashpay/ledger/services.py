"""Writes to the double-entry ledger: accounts, postings, holds, reversals and reconciliation.

The public API other apps use (all keyword-only):

- ``account_get_or_create(kind=, reference=, name=, allow_negative=None) -> Account``
- ``transaction_post(entries=[(account, msat), ...], idempotency_key=, description=, metadata=)``
  posts at once.
- ``hold_create(...)`` (same arguments) reserves: a pending transaction. Then ``hold_post(hold=)``
  or ``hold_void(hold=)``.
- ``transaction_reverse(transaction=, idempotency_key=None, description=)`` posts the mirror.
- ``ledger_reconcile(fix=False) -> ReconcileReport`` checks the cached balances against entries.

Amounts are ``Msat`` (or int msat): positive adds to an account, negative takes from it; the
entries of one transaction sum to zero and name each account at most once. To settle a hold for a
different amount (e.g. the real routing fee), void it and post the real transfer inside one
``transaction.atomic()``.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.db.models import F
from django.utils import timezone

from flashpay.errors import ApplicationError, Conflict, InsufficientFunds, NotFound
from flashpay.ledger import selectors, sql
from flashpay.ledger.locks import accounts_lock, transaction_lock
from flashpay.ledger.models import (
    NON_NEGATIVE_KINDS,
    Account,
    AccountKind,
    Entry,
    Transaction,
    TransactionStatus,
)
from flashpay.money import MSAT_PER_BTC, Msat

logger = logging.getLogger(__name__)

EntrySpec = tuple[Account, Msat | int]
# No amount beyond all the bitcoin there will ever be; also keeps sums far from bigint overflow.
MAX_ENTRY_MSAT = 21_000_000 * MSAT_PER_BTC


def _clean(obj) -> None:
    """full_clean() without the uniqueness/constraint queries: the database enforces those
    (unique idempotency key, check constraints) and the services turn a violation into a domain
    error, so re-checking them here would only cost round trips on the hot path."""
    obj.full_clean(validate_unique=False, validate_constraints=False)


def account_get_or_create(
    *,
    kind: AccountKind | str,
    reference: str,
    name: str = "",
    allow_negative: bool | None = None,
) -> Account:
    """The account for (kind, reference), created on first use.

    ``allow_negative`` defaults by kind: card, merchant and member accounts hold customers' money
    and may never go negative (asking for it is an error); the program-side kinds (node,
    external, program budget, fees) may unless ``allow_negative=False`` is given. An existing
    account is returned unchanged.
    """
    if kind not in AccountKind.values:
        raise ApplicationError(f"unknown ledger account kind {kind!r}")
    kind = AccountKind(kind)
    if allow_negative is None:
        allow_negative = kind not in NON_NEGATIVE_KINDS
    elif allow_negative and kind in NON_NEGATIVE_KINDS:
        raise ApplicationError(f"{kind.value} accounts can never go negative")
    if not reference:
        raise ApplicationError("a ledger account needs a reference")

    existing = Account.objects.filter(kind=kind, reference=reference).first()
    if existing is not None:
        return existing
    account = Account(kind=kind, reference=reference, name=name, allow_negative=allow_negative)
    _clean(account)
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        # Lost a race with a concurrent creator: theirs is the account.
        return Account.objects.get(kind=kind, reference=reference)
    return account


_KEY_MAX_LENGTH = Transaction._meta.get_field("idempotency_key").max_length
_DESCRIPTION_MAX_LENGTH = Transaction._meta.get_field("description").max_length


def _clean_new(txn: Transaction) -> None:
    """_clean() for a new posting or hold, skipped for the common input it would pass unchanged.

    Plain strings within their lengths, without NUL (PostgreSQL refuses it in text), and empty
    metadata are exactly what full_clean() accepts as is; it costs a tenth of a posting's client
    time, so anything else (other types, non-empty metadata, bad values) still goes through it
    and gets its ValidationError. NUL is refused here for every input: full_clean() lets it
    through and PostgreSQL would fail the posting with a DataError."""
    key, description = txn.idempotency_key, txn.description
    for name, value in (("idempotency_key", key), ("description", description)):
        if isinstance(value, str) and "\x00" in value:
            raise ValidationError({name: "Null characters are not allowed."})
    if (
        type(key) is str
        and type(description) is str
        and len(key) <= _KEY_MAX_LENGTH
        and len(description) <= _DESCRIPTION_MAX_LENGTH
        and type(txn.metadata) is dict
        and not txn.metadata
    ):
        return
    _clean(txn)


def _legs(entries: Sequence[EntrySpec]) -> list[tuple[int, int]]:
    """Validate the entries and return them as (account_id, msat) pairs."""
    if len(entries) < 2:
        raise ApplicationError("a ledger transaction needs at least two entries")
    legs: list[tuple[int, int]] = []
    for entry in entries:
        try:
            account, amount = entry
        except (TypeError, ValueError):
            raise ApplicationError("each entry must be an (account, amount) pair")
        if not isinstance(account, Account) or account.pk is None:
            raise ApplicationError("each entry needs a saved ledger Account")
        msat = Msat(amount).value  # refuses floats and other non-integers
        if msat == 0:
            raise ApplicationError("a ledger entry cannot be zero")
        if abs(msat) > MAX_ENTRY_MSAT:
            raise ApplicationError("a ledger entry cannot exceed 21 million BTC")
        legs.append((account.pk, msat))
    if len({account_id for account_id, _ in legs}) != len(legs):
        raise ApplicationError("a ledger transaction names each account at most once")
    if sum(msat for _, msat in legs) != 0:
        raise ApplicationError("the entries of a ledger transaction must sum to zero")
    return legs


def _same_legs(txn: Transaction, legs: list[tuple[int, int]]) -> bool:
    stored = sorted(txn.entries.values_list("account_id", "amount_msat"))
    return stored == sorted(legs)


def _replay(*, idempotency_key: str, legs, is_hold: bool) -> Transaction | None:
    """The stored transaction for this key if it is the same request, Conflict if it is not."""
    existing = Transaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    # A hold may since have been posted or voided; a replay still gets it back as it is now.
    same = existing.is_hold == is_hold and existing.reverses_id is None
    if not same or not _same_legs(existing, legs):
        raise Conflict(
            f"idempotency key {idempotency_key!r} was already used for a different ledger "
            "transaction"
        )
    return existing


def _check_funds(accounts: Mapping[int, Account], legs) -> None:
    for account_id, msat in legs:
        account = accounts[account_id]
        if msat < 0 and not account.allow_negative and account.available.value + msat < 0:
            raise InsufficientFunds(
                f"account {account.kind}:{account.reference} has {account.available} available, "
                f"{Msat(-msat)} needed"
            )


def _cache_deltas(legs, *, posted: int, pending: int) -> list[tuple[int, int, int, int]]:
    """(account_id, posted, pending debit, pending credit) changes for the legs.

    ``posted=1`` adds the legs to posted balances; ``pending=+1`` reserves them and ``pending=-1``
    releases the reservation.
    """
    return [
        (
            account_id,
            posted * msat,
            pending * -msat if msat < 0 else 0,
            pending * msat if msat > 0 else 0,
        )
        for account_id, msat in legs
    ]


def _fast_path() -> bool:
    """Whether postings take PostgreSQL's one-statement path (flashpay/ledger/sql.py).

    The ORM path stays for SQLite: `make run` settles invoices into the ledger. Tests run both
    paths on PostgreSQL (the write_path fixture), so the portable one cannot rot unnoticed.
    """
    return _PG_FAST_PATH and connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


# Tests turn this off to run the portable ORM path against PostgreSQL too.
_PG_FAST_PATH = True


def _bump_caches(legs, *, posted: int = 0, pending: int = 0) -> None:
    """Apply the legs to the cached balances of their (already locked) accounts."""
    if _fast_path():
        sql.account_caches_bump(legs=legs, posted=posted, pending=pending)
        return
    deltas = _cache_deltas(legs, posted=posted, pending=pending)
    for account_id, posted_delta, debit_delta, credit_delta in deltas:
        Account.objects.filter(pk=account_id).update(
            posted_msat=F("posted_msat") + posted_delta,
            pending_debit_msat=F("pending_debit_msat") + debit_delta,
            pending_credit_msat=F("pending_credit_msat") + credit_delta,
        )


def _write(txn: Transaction, legs) -> Transaction:
    """Insert a validated transaction and its entries and update the caches of the locked
    accounts: posted legs count in posted balances, a hold's legs in the pending ones."""
    posted, pending = (0, 1) if txn.status == TransactionStatus.PENDING else (1, 0)
    if not _fast_path():
        txn.save()
        Entry.objects.bulk_create(
            Entry(transaction=txn, account_id=account_id, amount_msat=msat)
            for account_id, msat in legs
        )
        _bump_caches(legs, posted=posted, pending=pending)
        return txn
    txn.created_at = timezone.now()
    txn.pk = sql.transaction_insert(txn=txn, legs=legs, posted=posted, pending=pending)
    txn._state.adding = False
    txn._state.db = DEFAULT_DB_ALIAS
    return txn


def _post_checked(txn: Transaction, legs, entries: Sequence[EntrySpec]) -> Transaction:
    """PostgreSQL: lock, check funds and write a new transaction in one statement (sql.POST_CHECKED).

    Raises NotFound for a missing account and InsufficientFunds for the first account (by pk)
    that lacks the money; then the statement has written nothing."""
    posted, pending = (0, 1) if txn.status == TransactionStatus.PENDING else (1, 0)
    short_ids, short_available, txn_id = sql.transaction_post_checked(
        txn=txn, legs=legs, posted=posted, pending=pending
    )
    if short_ids:
        missing = [pk for pk, available in zip(short_ids, short_available, strict=True) if available is None]
        if missing:
            raise NotFound(f"ledger account(s) {missing} do not exist")
        by_id = {account.pk: account for account, _ in entries}
        needed = dict(legs)
        account_id, available = short_ids[0], short_available[0]
        account = by_id[account_id]
        raise InsufficientFunds(
            f"account {account.kind}:{account.reference} has {Msat(available)} available, "
            f"{Msat(-needed[account_id])} needed"
        )
    txn.pk = txn_id
    txn._state.adding = False
    txn._state.db = DEFAULT_DB_ALIAS
    return txn


def _record(
    *,
    entries: Sequence[EntrySpec],
    idempotency_key: str,
    description: str,
    metadata: dict | None,
    status: str,
) -> Transaction:
    legs = _legs(entries)
    is_hold = status == TransactionStatus.PENDING
    if not idempotency_key:
        raise ApplicationError("a ledger transaction needs an idempotency key")
    now = timezone.now()
    txn = Transaction(
        idempotency_key=idempotency_key,
        status=status,
        is_hold=is_hold,
        description=description,
        metadata=metadata if metadata is not None else {},
        created_at=now,
        posted_at=now if status == TransactionStatus.POSTED else None,
    )
    _clean_new(txn)  # bad input fails here, before any lock is taken
    # No look-up of the key first: a replay is rare, and it is caught below by the unique
    # index (same key committed) or, when the money has moved on since, by the funds check.
    try:
        if _fast_path() and not connections[DEFAULT_DB_ALIAS].in_atomic_block:
            # Outside any atomic block the one statement is a transaction by itself
            # (autocommit): it commits or writes nothing, and the deferred balance trigger
            # still runs at its end. That spares BEGIN and COMMIT, two of three round trips.
            return _post_checked(txn, legs, entries)
        with transaction.atomic():
            if _fast_path():
                return _post_checked(txn, legs, entries)
            accounts = accounts_lock(account_ids=[account_id for account_id, _ in legs])
            _check_funds(accounts, legs)
            return _write(txn, legs)
    except (IntegrityError, InsufficientFunds):
        existing = _replay(idempotency_key=idempotency_key, legs=legs, is_hold=is_hold)
        if existing is None:
            raise
        return existing


def transaction_post(
    *,
    entries: Sequence[EntrySpec],
    idempotency_key: str,
    description: str = "",
    metadata: dict | None = None,
) -> Transaction:
    """Post a balanced transaction at once.

    Raises InsufficientFunds when a non-negative account's available balance would drop below
    zero, Conflict when ``idempotency_key`` was used for other entries. The same key with the same
    entries returns the transaction stored the first time, so retries never post twice.
    """
    return _record(
        entries=entries,
        idempotency_key=idempotency_key,
        description=description,
        metadata=metadata,
        status=TransactionStatus.POSTED,
    )


def hold_create(
    *,
    entries: Sequence[EntrySpec],
    idempotency_key: str,
    description: str = "",
    metadata: dict | None = None,
) -> Transaction:
    """Reserve a transfer: a pending transaction that lowers the payers' available balance now
    and credits nobody until ``hold_post``. Same errors and idempotency as ``transaction_post``."""
    return _record(
        entries=entries,
        idempotency_key=idempotency_key,
        description=description,
        metadata=metadata,
        status=TransactionStatus.PENDING,
    )


def _hold_settle(*, hold: Transaction | int, to: str) -> Transaction:
    hold_id = hold.pk if isinstance(hold, Transaction) else hold
    with transaction.atomic():
        txn = transaction_lock(transaction_id=hold_id)
        if not txn.is_hold:
            raise Conflict(f"ledger transaction {txn.pk} is not a hold")
        if txn.status == to:
            return txn  # a task delivered twice: already done
        if txn.status != TransactionStatus.PENDING:
            raise Conflict(f"ledger transaction {txn.pk} is {txn.status}, not pending")
        legs = list(txn.entries.values_list("account_id", "amount_msat"))
        accounts_lock(account_ids=[account_id for account_id, _ in legs])
        txn.status = to
        if to == TransactionStatus.POSTED:
            txn.posted_at = timezone.now()
            update_fields = ["status", "posted_at"]
            _bump_caches(legs, posted=1, pending=-1)
        else:
            txn.voided_at = timezone.now()
            update_fields = ["status", "voided_at"]
            _bump_caches(legs, pending=-1)
        _clean(txn)
        txn.save(update_fields=update_fields)
        return txn


def hold_post(*, hold: Transaction | int) -> Transaction:
    """Turn a pending hold into a posted transaction (pending -> posted).

    Posting an already posted hold returns it unchanged (tasks may run twice); a voided hold
    raises Conflict. Cannot overdraw: the debits were reserved when the hold was made.
    """
    return _hold_settle(hold=hold, to=TransactionStatus.POSTED)


def hold_void(*, hold: Transaction | int) -> Transaction:
    """Release a pending hold (pending -> voided): the reserved money is available again.

    Voiding an already voided hold returns it unchanged; a posted one raises Conflict (reverse it
    instead).
    """
    return _hold_settle(hold=hold, to=TransactionStatus.VOIDED)


def transaction_reverse(
    *,
    transaction: Transaction | int,
    idempotency_key: str | None = None,
    description: str = "",
) -> Transaction:
    """Post the mirror image of a posted transaction, linked to it through ``reverses``.

    Refused (Conflict) for a pending or voided transaction (void the hold instead), for a
    transaction already reversed, and for a reversal itself (post a new transaction instead).
    Raises InsufficientFunds if a non-negative account has since spent the money.
    """
    return _reverse(
        original=transaction, idempotency_key=idempotency_key, description=description
    )


def _reverse(*, original: Transaction | int, idempotency_key: str | None, description: str):
    # Named apart from the public function because its `transaction` argument shadows the module.
    original_id = original.pk if isinstance(original, Transaction) else original
    with transaction.atomic():
        txn = transaction_lock(transaction_id=original_id)
        if txn.status != TransactionStatus.POSTED:
            raise Conflict(f"ledger transaction {txn.pk} is {txn.status}; only posted ones reverse")
        if txn.reverses_id is not None:
            raise Conflict(f"ledger transaction {txn.pk} is a reversal; post a new transaction")
        if Transaction.objects.filter(reverses_id=txn.pk).exists():
            raise Conflict(f"ledger transaction {txn.pk} was already reversed")
        legs = [(a, -m) for a, m in txn.entries.values_list("account_id", "amount_msat")]
        accounts = accounts_lock(account_ids=[account_id for account_id, _ in legs])
        _check_funds(accounts, legs)
        reversal = Transaction(
            idempotency_key=idempotency_key or f"reversal:{txn.idempotency_key}"[:200],
            status=TransactionStatus.POSTED,
            description=description or f"Reversal of #{txn.pk}",
            metadata={},
            reverses=txn,
            posted_at=timezone.now(),
        )
        _clean(reversal)
        try:
            with transaction.atomic():
                _write(reversal, legs)
        except IntegrityError:
            raise Conflict(f"idempotency key {reversal.idempotency_key!r} is already used")
        return reversal


@dataclass
class ReconcileReport:
    """What ``ledger_reconcile`` found (and, with fix=True, repaired)."""

    accounts_checked: int = 0
    mismatches: list[selectors.BalanceMismatch] = field(default_factory=list)
    posted_total_msat: int = 0
    unbalanced_transaction_ids: list[int] = field(default_factory=list)
    fixed: int = 0
    # What holders owe (receivable accounts below zero): not an error, but every one is shown.
    receivables: list[selectors.Receivable] = field(default_factory=list)

    @property
    def receivables_total_msat(self) -> int:
        return sum(receivable.owed.value for receivable in self.receivables)

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.posted_total_msat and not (
            self.unbalanced_transaction_ids
        )


def ledger_reconcile(*, fix: bool = False) -> ReconcileReport:
    """Recompute every account's balances from its entries and compare with the caches.

    Also checks that all posted entries sum to zero and that no transaction is unbalanced, and
    lists what holders owe (receivable accounts below zero; reported, not an error).
    With ``fix=True`` each mismatching cache is rewritten from its entries under the account's
    row lock (so no posting slips in between) and every rewrite is logged.
    """
    mismatches = selectors.account_balance_mismatch_list()
    report = ReconcileReport(
        accounts_checked=Account.objects.count(),
        mismatches=mismatches,
        posted_total_msat=selectors.ledger_posted_total().value,
        unbalanced_transaction_ids=selectors.transaction_unbalanced_id_list(),
        receivables=selectors.receivable_list(),
    )
    for mismatch in mismatches:
        logger.error("ledger cache mismatch: %s", mismatch)
    if report.posted_total_msat:
        logger.error("ledger posted entries sum to %d msat, not zero", report.posted_total_msat)
    if report.unbalanced_transaction_ids:
        logger.error("unbalanced ledger transactions: %s", report.unbalanced_transaction_ids)
    if fix:
        for mismatch in mismatches:
            if _account_cache_rewrite(account_id=mismatch.account_id):
                report.fixed += 1
    return report


def _account_cache_rewrite(*, account_id: int) -> bool:
    with transaction.atomic():
        account = accounts_lock(account_ids=[account_id])[account_id]
        truth = selectors.account_balance_from_entries(account=account)
        old = (account.posted_msat, account.pending_debit_msat, account.pending_credit_msat)
        new = (truth.posted.value, truth.pending_debit.value, truth.pending_credit.value)
        if old == new:
            return False  # fixed meanwhile by someone else
        account.posted_msat, account.pending_debit_msat, account.pending_credit_msat = new
        account.save(update_fields=["posted_msat", "pending_debit_msat", "pending_credit_msat"])
        logger.warning(
            "ledger cache of account %s rewritten: (posted, pending debit, pending credit) "
            "%s -> %s",
            account,
            old,
            new,
        )
        return True
