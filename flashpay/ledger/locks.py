"""Row-lock helpers for the ledger: accounts and transactions locked in a stable order."""
from __future__ import annotations

from collections.abc import Iterable

from flashpay.errors import NotFound
from flashpay.ledger.models import Account, Transaction
from flashpay.ledger.sql import accounts_for_update


def accounts_lock(*, account_ids: Iterable[int]) -> dict[int, Account]:
    """Lock the given accounts (FOR NO KEY UPDATE) in primary-key order and return them by id.

    Every writer locks accounts in the same pk order, so two transfers touching the same pair of
    accounts in opposite directions queue up instead of deadlocking. NO KEY keeps inserts of
    entries (which reference the account with a foreign key) from blocking on the lock.
    Must run inside ``transaction.atomic()`` (the ORM refuses to compile it outside one).
    """
    ids = sorted(set(account_ids))
    accounts = accounts_for_update(account_ids=ids)
    missing = [pk for pk in ids if pk not in accounts]
    if missing:
        raise NotFound(f"ledger account(s) {missing} do not exist")
    return accounts


def transaction_lock(*, transaction_id: int) -> Transaction:
    """Lock one ledger transaction row so its status changes one at a time."""
    try:
        return Transaction.objects.select_for_update(no_key=True, of=("self",)).get(
            pk=transaction_id
        )
    except Transaction.DoesNotExist:
        raise NotFound(f"ledger transaction {transaction_id} does not exist")
