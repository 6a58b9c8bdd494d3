"""The ledger's hand-written statements: the account lock and PostgreSQL's one-statement postings.

Posting is the hot path (>= 1000/s is the goal on two cores), and each round trip through the
ORM costs about as much as the database work itself, so on PostgreSQL the transaction, its
entries and the cache updates go in ONE statement (data-modifying CTEs run exactly once even
though the final SELECT reads only the first). The rules are the services': accounts are locked
and funds checked first (by ``accounts_for_update``, or inside ``POST_CHECKED`` for new postings
and holds), and the deferred trigger checks the sums at COMMIT. ``UPDATE ... FROM`` applies one
leg per account, which is right because a transaction names each account once.

Every name comes from the models (``flashpay.sql.Names``); every value is a bound parameter.
``tests/flashpay/ledger/test_sql.py`` holds each statement against the ORM path that
``flashpay.ledger.services`` takes on other databases.
"""
from __future__ import annotations

import json
from collections.abc import Sequence

from django.db import DEFAULT_DB_ALIAS, connections

from flashpay.ledger.models import Account, Entry, Transaction
from flashpay.sql import Names, execute_hot

_A, _T, _E = Names(Account), Names(Transaction), Names(Entry)

# (account_id, msat) pairs of one transaction, in the order they were given.
Legs = Sequence[tuple[int, int]]

# ---------------------------------------------------------------------------- the account lock

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


def accounts_for_update(*, account_ids: list[int]) -> dict[int, Account]:
    """The ORM's ``select_for_update(no_key=True)`` of these accounts in pk order, compiled once
    per number of ids; the accounts found, by id (a missing id is simply absent).

    Outside ``transaction.atomic()`` the ORM refuses to compile it (TransactionManagementError),
    and so does this, every time, cached text or not.
    """
    connection = connections[DEFAULT_DB_ALIAS]  # once: each access goes through a thread-local
    key = (connection.alias, len(account_ids))
    sql = _ACCOUNT_LOCK_SQL.get(key)
    if sql is None or connection.get_autocommit():
        queryset = _account_lock_queryset(account_ids)
        sql, params = queryset.query.get_compiler(connection=connection).as_sql()
        assert list(params) == list(account_ids), "the lock query must take exactly the ids as parameters"
        _ACCOUNT_LOCK_SQL[key] = sql
    rows = execute_hot(sql, account_ids)
    return {row[0]: Account.from_db(connection.alias, _ACCOUNT_FIELDS, row) for row in rows}


# ---------------------------------------------------------------------------- postings (PostgreSQL)

_UPDATE_CACHES = f"""
    UPDATE {_A} AS a
       SET {_A.posted_msat} = a.{_A.posted_msat} + f.posted * leg.amount_msat,
           {_A.pending_debit_msat} = a.{_A.pending_debit_msat} + f.pending * greatest(-leg.amount_msat, 0),
           {_A.pending_credit_msat} = a.{_A.pending_credit_msat} + f.pending * greatest(leg.amount_msat, 0)
      FROM legs AS leg, (SELECT %s::bigint AS posted, %s::bigint AS pending) AS f
     WHERE a.{_A.pk} = leg.account_id
"""  # noqa: S608
_LEGS = """legs AS (
    SELECT * FROM unnest(%s::bigint[], %s::bigint[]) WITH ORDINALITY
           AS leg(account_id, amount_msat, position)
)"""

# Apply legs to the cached balances of accounts the caller has locked.
BUMP_CACHES = f"WITH {_LEGS} {_UPDATE_CACHES}"  # noqa: S608

# A validated transaction, its entries and the caches of its (already locked) accounts.
INSERT_TRANSACTION = f"""
WITH {_LEGS}, txn AS (
    INSERT INTO {_T} ({_T.idempotency_key}, {_T.status}, {_T.is_hold}, {_T.description}, {_T.metadata},
                      {_T.reverses}, {_T.created_at}, {_T.posted_at})
    VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s)
    RETURNING {_T.pk} AS id
), entries AS (
    INSERT INTO {_E} ({_E.transaction}, {_E.account}, {_E.amount_msat})
    SELECT txn.id, leg.account_id, leg.amount_msat FROM txn, legs AS leg ORDER BY leg.position
    RETURNING 1
), caches AS ({_UPDATE_CACHES}
    RETURNING 1
)
SELECT id FROM txn
"""  # noqa: S608

# The posting statement for a new posting or hold: it also locks the accounts and checks the
# funds, so a posting is BEGIN, this statement and COMMIT. `locked` is MATERIALIZED so it runs
# once, before anything reads it, and locks the accounts in pk order like accounts_for_update
# (opposite transfers queue instead of deadlocking). Under READ COMMITTED a FOR NO KEY UPDATE
# that waited returns the row's newest committed version, so the funds check sees current
# balances; the UPDATE below starts from the statement's older snapshot but re-applies its SET
# to that newest version after the wait (EvalPlanQual), so no concurrent posting is lost. The
# inserts and the UPDATE only act when no leg is `short` (account missing or lacking funds), and
# the final SELECT reads `short` in full, which reads `locked` in full: all accounts are locked
# before the caller sees a result. The check constraints on the account table stay the backstop.
POST_CHECKED = f"""
WITH {_LEGS}, locked AS MATERIALIZED (
    SELECT a.{_A.pk} AS id, a.{_A.allow_negative} AS allow_negative,
           a.{_A.posted_msat} - a.{_A.pending_debit_msat} AS available
      FROM {_A} AS a
     WHERE a.{_A.pk} IN (SELECT account_id FROM legs)
     ORDER BY a.{_A.pk}
       FOR NO KEY UPDATE
), short AS MATERIALIZED (
    SELECT leg.account_id, a.available
      FROM legs AS leg LEFT JOIN locked AS a ON a.id = leg.account_id
     WHERE a.id IS NULL
        OR (leg.amount_msat < 0 AND NOT a.allow_negative AND a.available + leg.amount_msat < 0)
), txn AS (
    INSERT INTO {_T} ({_T.idempotency_key}, {_T.status}, {_T.is_hold}, {_T.description}, {_T.metadata},
                      {_T.reverses}, {_T.created_at}, {_T.posted_at})
    SELECT %s, %s, %s, %s, %s::jsonb, NULL, %s, %s
     WHERE NOT EXISTS (SELECT FROM short)
    RETURNING {_T.pk} AS id
), entries AS (
    INSERT INTO {_E} ({_E.transaction}, {_E.account}, {_E.amount_msat})
    SELECT txn.id, leg.account_id, leg.amount_msat FROM txn, legs AS leg ORDER BY leg.position
    RETURNING 1
), caches AS (
    UPDATE {_A} AS a
       SET {_A.posted_msat} = a.{_A.posted_msat} + f.posted * leg.amount_msat,
           {_A.pending_debit_msat} = a.{_A.pending_debit_msat} + f.pending * greatest(-leg.amount_msat, 0),
           {_A.pending_credit_msat} = a.{_A.pending_credit_msat} + f.pending * greatest(leg.amount_msat, 0)
      FROM txn, legs AS leg, (SELECT %s::bigint AS posted, %s::bigint AS pending) AS f
     WHERE a.{_A.pk} = leg.account_id
    RETURNING 1
)
SELECT (SELECT array_agg(account_id ORDER BY account_id) FROM short),
       (SELECT array_agg(available ORDER BY account_id) FROM short),
       (SELECT id FROM txn)
"""  # noqa: S608


def _leg_arrays(legs: Legs) -> list[list[int]]:
    return [[account_id for account_id, _ in legs], [msat for _, msat in legs]]


def account_caches_bump(*, legs: Legs, posted: int = 0, pending: int = 0) -> None:
    """Add ``posted`` x each leg to its account's posted balance and ``pending`` x it to the
    pending debit (for a negative leg) or credit (positive); the accounts must be locked."""
    execute_hot(BUMP_CACHES, [*_leg_arrays(legs), posted, pending], fetch=False)


def transaction_insert(*, txn: Transaction, legs: Legs, posted: int, pending: int) -> int:
    """Insert ``txn`` (validated, unsaved), its entries, and bump the caches of its locked
    accounts (``posted``/``pending`` as in account_caches_bump); the new transaction's id."""
    rows = execute_hot(
        INSERT_TRANSACTION,
        [
            *_leg_arrays(legs),
            txn.idempotency_key,
            txn.status,
            txn.is_hold,
            txn.description,
            json.dumps(txn.metadata),
            txn.reverses_id,
            txn.created_at,
            txn.posted_at,
            posted,
            pending,
        ],
    )
    return rows[0][0]


def transaction_post_checked(
    *, txn: Transaction, legs: Legs, posted: int, pending: int
) -> tuple[list[int] | None, list[int | None] | None, int | None]:
    """Lock the accounts, check the funds and, if every leg can be paid, write ``txn`` (a new
    posting or hold, no reversal) as transaction_insert would, in one statement.

    Returns (short account ids, their available msat (None: no such account), new id): the first
    two are None and the id is set when it was written; otherwise nothing was written.
    """
    short_ids, short_available, txn_id = execute_hot(
        POST_CHECKED,
        [
            *_leg_arrays(legs),
            txn.idempotency_key,
            txn.status,
            txn.is_hold,
            txn.description,
            json.dumps(txn.metadata) if txn.metadata else "{}",
            txn.created_at,
            txn.posted_at,
            posted,
            pending,
        ],
    )[0]
    return short_ids, short_available, txn_id
