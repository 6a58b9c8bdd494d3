"""Row-lock helpers for the ledger: accounts and transactions locked in a stable order."""
from __future__ import annotations

from collections.abc import Iterable

from django.db import DEFAULT_DB_ALIAS, connections

from flashpay.errors import NotFound
from flashpay.ledger.models import Account, Transaction
from flashpay.sql import execute_hot

# Compiled SQL of the account lock query, per (database alias, number of accounts). Postings run
# this query a thousand times a second; building it through the ORM each time cost more CPU
# than the rest of the posting, and its text only depends on how many ids it names.
_ACCOUNT_LOCK_SQL: dict[tuple[str, int], str] = {}
_ACCOUNT_FIELDS = [field.attname for field in Account._meta.concrete_fields]


def _account_lock_queryset(account_ids: list[int]):
    return (
        Account.objects.select_for_update(no_key=True, of=("self",))
        .filter(pk__in=account_ids)
        .order_by("pk")
    )


def accounts_lock(*, account_ids: Iterable[int]) -> dict[int, Account]:
    """Lock the given accounts (FOR NO KEY UPDATE) in primary-key order and return them by id.

    Every writer locks accounts in the same pk order, so two transfers touching the same pair of
    accounts in opposite directions queue up instead of deadlocking. NO KEY keeps inserts of
    entries (which reference the account with a foreign key) from blocking on the lock.
    Must run inside ``transaction.atomic()`` (the ORM refuses to compile it outside one).
    """
    ids = sorted(set(account_ids))
    connection = connections[DEFAULT_DB_ALIAS]  # once: each access goes through a thread-local
    key = (connection.alias, len(ids))
    sql = _ACCOUNT_LOCK_SQL.get(key)
    if sql is None or connection.get_autocommit():
        queryset = _account_lock_queryset(ids)
        sql, params = queryset.query.get_compiler(connection=connection).as_sql()
        assert list(params) == ids, "the lock query must take exactly the ids as parameters"
        _ACCOUNT_LOCK_SQL[key] = sql
    if connection.vendor == "postgresql":
        rows = execute_hot(sql, ids)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, ids)
            rows = cursor.fetchall()
    accounts = {row[0]: Account.from_db(connection.alias, _ACCOUNT_FIELDS, row) for row in rows}
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
