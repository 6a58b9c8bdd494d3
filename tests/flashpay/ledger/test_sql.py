"""Each hand-written ledger statement (flashpay/ledger/sql.py) writes and reads what the ORM does.

Every test runs a statement on one set of accounts and the services' ORM path (the one other
databases take) on a twin set, then compares the rows they leave behind.
"""
import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone

from flashpay.ledger import services, sql
from flashpay.ledger.models import Account, AccountKind, Entry, Transaction, TransactionStatus
from flashpay.sql import Names

from .factories import AccountFactory, funded_account

pytestmark = pytest.mark.django_db


def _accounts() -> list[Account]:
    """A card holding 10,000 msat, a merchant and a fees account (which may go negative)."""
    return [
        funded_account(10_000),
        AccountFactory(kind=AccountKind.MERCHANT),
        AccountFactory(kind=AccountKind.FEES),
    ]


def _legs(accounts, amounts) -> list[tuple[int, int]]:
    return [(account.pk, msat) for account, msat in zip(accounts, amounts, strict=True)]


def _caches(accounts) -> list[tuple[int, int, int]]:
    rows = Account.objects.in_bulk([a.pk for a in accounts])
    return [(rows[a.pk].posted_msat, rows[a.pk].pending_debit_msat, rows[a.pk].pending_credit_msat) for a in accounts]


def _written(txn_id: int, accounts) -> dict:
    """What a write left: the transaction's columns (less key and times), its entries by account
    position in order, and the accounts' cached balances."""
    position = {a.pk: n for n, a in enumerate(accounts)}
    stored = Transaction.objects.get(pk=txn_id)
    return {
        "transaction": (stored.status, stored.is_hold, stored.description, stored.metadata, stored.reverses_id,
                        stored.posted_at is not None, stored.voided_at),
        "entries": [
            (position[account_id], msat)
            for account_id, msat in Entry.objects.filter(transaction_id=txn_id).order_by("id").values_list("account_id", "amount_msat")
        ],
        "caches": _caches(accounts),
    }


def _new_transaction(key: str, *, status=TransactionStatus.POSTED, metadata=None) -> Transaction:
    now = timezone.now()
    return Transaction(
        idempotency_key=key, status=status, is_hold=status == TransactionStatus.PENDING, description="coffee",
        metadata=metadata if metadata is not None else {}, created_at=now,
        posted_at=now if status == TransactionStatus.POSTED else None,
    )


def _orm_write(txn: Transaction, legs, monkeypatch) -> int:
    monkeypatch.setattr(services, "_PG_FAST_PATH", False)
    with transaction.atomic():
        services.accounts_lock(account_ids=[account_id for account_id, _ in legs])
        services._write(txn, legs)
    monkeypatch.setattr(services, "_PG_FAST_PATH", True)
    return txn.pk


@pytest.mark.parametrize("status", [TransactionStatus.POSTED, TransactionStatus.PENDING])
def test_insert_transaction_writes_what_the_orm_writes(status, monkeypatch):
    amounts = [-7_000, 6_900, 100]
    ours, theirs = _accounts(), _accounts()
    posted, pending = (0, 1) if status == TransactionStatus.PENDING else (1, 0)

    with transaction.atomic():
        sql.accounts_for_update(account_ids=sorted(a.pk for a in ours))
        txn_id = sql.transaction_insert(
            txn=_new_transaction("sql", status=status, metadata={"invoice": "abc"}), legs=_legs(ours, amounts),
            posted=posted, pending=pending,
        )
    orm_id = _orm_write(_new_transaction("orm", status=status, metadata={"invoice": "abc"}), _legs(theirs, amounts), monkeypatch)

    assert _written(txn_id, ours) == _written(orm_id, theirs)
    assert _written(txn_id, ours)["entries"] == [(0, -7_000), (1, 6_900), (2, 100)]


@pytest.mark.parametrize(("posted", "pending"), [(1, 0), (0, 1), (0, -1), (1, -1)])
def test_bump_caches_moves_the_balances_the_orm_moves(posted, pending, monkeypatch):
    amounts = [-3_000, 2_000, 1_000]
    ours, theirs = _accounts(), _accounts()
    for accounts in (ours, theirs):  # a reservation to post or release (the ORM sets both up)
        for account_id, msat in _legs(accounts, amounts):
            Account.objects.filter(pk=account_id).update(
                pending_debit_msat=max(-msat, 0), pending_credit_msat=max(msat, 0)
            )

    with transaction.atomic():
        sql.accounts_for_update(account_ids=sorted(a.pk for a in ours))
        sql.account_caches_bump(legs=_legs(ours, amounts), posted=posted, pending=pending)
    monkeypatch.setattr(services, "_PG_FAST_PATH", False)
    with transaction.atomic():
        services._bump_caches(_legs(theirs, amounts), posted=posted, pending=pending)

    assert _caches(ours) == _caches(theirs)
    assert _caches(ours)[1] == (2_000 * posted, 0, 2_000 * (1 + pending))


@pytest.mark.parametrize("status", [TransactionStatus.POSTED, TransactionStatus.PENDING])
def test_post_checked_writes_what_the_orm_writes_when_the_money_is_there(status, monkeypatch):
    amounts = [-10_000, 9_900, 100]
    ours, theirs = _accounts(), _accounts()
    posted, pending = (0, 1) if status == TransactionStatus.PENDING else (1, 0)

    short_ids, short_available, txn_id = sql.transaction_post_checked(
        txn=_new_transaction("sql", status=status), legs=_legs(ours, amounts), posted=posted, pending=pending
    )
    orm_id = _orm_write(_new_transaction("orm", status=status), _legs(theirs, amounts), monkeypatch)

    assert (short_ids, short_available) == (None, None)
    assert _written(txn_id, ours) == _written(orm_id, theirs)


def test_post_checked_names_the_short_and_missing_accounts_and_writes_nothing():
    card, merchant, fees = _accounts()
    poor = funded_account(500)
    before = (Transaction.objects.count(), Entry.objects.count(), _caches([card, merchant, fees, poor]))
    missing_id = Account.objects.order_by("-pk").values_list("pk", flat=True).first() + 1000

    short_ids, short_available, txn_id = sql.transaction_post_checked(
        txn=_new_transaction("short"),
        legs=[(card.pk, -10_001), (poor.pk, -500), (merchant.pk, 10_000), (missing_id, 501)],
        posted=1, pending=0,
    )

    # the card lacks 1 msat, the poor account can pay its 500, the last account does not exist
    assert txn_id is None
    assert (short_ids, short_available) == ([card.pk, missing_id], [10_000, None])
    assert (Transaction.objects.count(), Entry.objects.count(), _caches([card, merchant, fees, poor])) == before


def test_accounts_for_update_reads_the_rows_the_orm_reads_and_skips_missing_ids():
    accounts = _accounts()
    ids = sorted(a.pk for a in accounts)
    missing_id = ids[-1] + 1000

    with transaction.atomic():
        found = sql.accounts_for_update(account_ids=[*ids, missing_id])

    expected = Account.objects.filter(pk__in=ids).order_by("pk")
    assert list(found) == ids
    fields = [f.attname for f in Account._meta.concrete_fields]
    assert [[getattr(found[a.pk], f) for f in fields] for a in expected] == [[getattr(a, f) for f in fields] for a in expected]


@pytest.mark.django_db(transaction=True)
def test_accounts_for_update_holds_the_row_locks_until_the_transaction_ends():
    card = AccountFactory()
    db = connection.settings_dict
    other = psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"], autocommit=True
    )
    a = Names(Account)
    lock = f"SELECT 1 FROM {a} WHERE {a.pk} = %s FOR UPDATE NOWAIT"  # noqa: S608
    try:
        with transaction.atomic():
            sql.accounts_for_update(account_ids=[card.pk])
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute(lock, [card.pk])
        assert other.execute(lock, [card.pk]).fetchone() == (1,)
    finally:
        other.close()
