"""The ledger's rules held by PostgreSQL itself, bypassing the services (raw ORM and SQL)."""
import pytest
from django.db import IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError

from flashpay.ledger import selectors, services
from flashpay.ledger.locks import accounts_lock
from flashpay.ledger.models import Entry, Transaction, TransactionStatus
from flashpay.money import Msat
from flashpay.sql import Names

from .factories import AccountFactory, external_account

pytestmark = pytest.mark.django_db(transaction=True)


def _posted_transaction():
    world, card = external_account(), AccountFactory()
    txn = services.transaction_post(entries=[(world, -1_000), (card, 1_000)], idempotency_key="t")
    return txn, card


def test_unbalanced_entries_are_rejected_at_commit():
    world, card = external_account(), AccountFactory()

    with pytest.raises(IntegrityError, match="unbalanced"):
        with transaction.atomic():
            txn = Transaction.objects.create(idempotency_key="raw", status="posted")
            Entry.objects.create(transaction=txn, account=world, amount_msat=-1_000)
            Entry.objects.create(transaction=txn, account=card, amount_msat=999)
            # the statements themselves succeed: the check is deferred to COMMIT

    assert not Transaction.objects.filter(idempotency_key="raw").exists()
    assert Entry.objects.count() == 0


def test_raw_sql_single_entry_transaction_is_rejected_at_commit():
    world = external_account()

    with pytest.raises(IntegrityError, match="at least two"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO ledger_transaction (idempotency_key, status, is_hold, description,"
                " metadata, created_at) VALUES ('one', 'posted', false, '', '{}', now())"
                " RETURNING id"
            )
            (txn_id,) = cursor.fetchone()
            cursor.execute(
                "INSERT INTO ledger_entry (transaction_id, account_id, amount_msat)"
                " VALUES (%s, %s, 0 + 5)",
                [txn_id, world.pk],
            )

    assert not Transaction.objects.filter(idempotency_key="one").exists()


def test_transaction_without_entries_is_rejected_at_commit():
    with pytest.raises(IntegrityError, match="has 0 entries"):
        Transaction.objects.create(idempotency_key="empty", status="posted")  # autocommit

    assert not Transaction.objects.exists()


def test_entries_added_to_a_committed_transaction_must_still_balance():
    txn, _ = _posted_transaction()
    other = AccountFactory()

    with pytest.raises(IntegrityError, match="unbalanced"):
        Entry.objects.create(transaction=txn, account=other, amount_msat=5)

    assert Entry.objects.filter(transaction=txn).count() == 2


def test_entries_cannot_be_updated_or_deleted():
    txn, card = _posted_transaction()
    entry = Entry.objects.get(transaction=txn, account=card)

    with pytest.raises(IntegrityError, match="append-only"):
        Entry.objects.filter(pk=entry.pk).update(amount_msat=2_000)
    with pytest.raises(IntegrityError, match="append-only"):
        entry.delete()
    with pytest.raises(IntegrityError, match="append-only"):
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM ledger_entry")

    assert Entry.objects.get(pk=entry.pk).amount_msat == 1_000
    assert Entry.objects.count() == 2


def test_transactions_cannot_be_deleted_edited_or_moved_back():
    txn, card = _posted_transaction()
    hold = services.hold_create(
        entries=[(card, -10), (external_account(), 10)], idempotency_key="h"
    )
    services.hold_void(hold=hold)

    with pytest.raises(IntegrityError, match="never deleted"):
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM ledger_transaction WHERE id = %s", [hold.pk])
    with pytest.raises(IntegrityError, match="immutable"):
        Transaction.objects.filter(pk=txn.pk).update(idempotency_key="changed")
    with pytest.raises(IntegrityError, match="cannot go from posted to pending"):
        Transaction.objects.filter(pk=txn.pk).update(status=TransactionStatus.PENDING)
    with pytest.raises(IntegrityError, match="cannot go from voided to posted"):
        Transaction.objects.filter(pk=hold.pk).update(status=TransactionStatus.POSTED)

    assert Transaction.objects.get(pk=txn.pk).status == TransactionStatus.POSTED
    assert Transaction.objects.get(pk=hold.pk).status == TransactionStatus.VOIDED
    assert selectors.account_balance(account=card).posted == Msat(1_000)


def test_a_customer_balance_cache_cannot_go_below_zero():
    txn, card = _posted_transaction()

    with pytest.raises(IntegrityError, match="available_not_negative"):
        type(card).objects.filter(pk=card.pk).update(posted_msat=-1)

    assert selectors.account_balance(account=card).posted == Msat(1_000)


def test_accounts_can_only_be_locked_inside_a_transaction():
    card = AccountFactory()

    with pytest.raises(TransactionManagementError):
        accounts_lock(account_ids=[card.pk])
    with transaction.atomic():
        assert accounts_lock(account_ids=[card.pk])[card.pk].pk == card.pk
    # the compiled query is cached now: still refused outside a transaction
    with pytest.raises(TransactionManagementError):
        accounts_lock(account_ids=[card.pk])


def test_hot_statements_are_prepared_once_per_connection(monkeypatch):
    # as with DB_PREPARED_STATEMENTS=true (the default), whatever this run's environment says
    connection.ensure_connection()
    monkeypatch.setattr(connection.connection, "prepare_threshold", 5)
    world, card = external_account(), AccountFactory()

    for n in range(3):
        services.transaction_post(entries=[(world, -1), (card, 1)], idempotency_key=f"p{n}")

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall()]
    # one statement locks the accounts and writes the posting, prepared once
    insert = f"INSERT INTO {Names(Transaction)}"
    assert sum(insert in s for s in statements) == 1
    assert sum("FOR NO KEY UPDATE" in s for s in statements) == 1
    assert any(insert in s and "FOR NO KEY UPDATE" in s for s in statements)
    assert selectors.account_balance(account=card).posted == Msat(3)
