"""Concurrent debits of one account from many threads, each on its own database connection."""
from functools import partial

import pytest
from django.db import connection
from django.db.models import Sum

from flashpay.errors import Conflict, InsufficientFunds
from flashpay.ledger import selectors, services
from flashpay.ledger.models import Account, AccountKind, Transaction
from flashpay.money import Msat
from tests.concurrency import run_together

from .factories import AccountFactory, funded_account

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 50
PRICE = 1_000


@pytest.mark.parametrize("use_holds", [False, True], ids=["post", "hold"])
def test_fifty_concurrent_debits_never_overdraw(use_holds, write_path):
    # given: a card that can pay for 17 of 50 purchases, spread over several merchants
    affordable = 17
    card = funded_account(PRICE * affordable + PRICE // 2)
    merchants = [AccountFactory(kind=AccountKind.MERCHANT) for _ in range(5)]

    def spend(n: int) -> str:
        try:
            entries = [(card, -PRICE), (merchants[n % 5], PRICE)]
            if use_holds:
                hold = services.hold_create(entries=entries, idempotency_key=f"buy-{n}")
                services.hold_post(hold=hold)
            else:
                services.transaction_post(entries=entries, idempotency_key=f"buy-{n}")
            return "ok"
        except InsufficientFunds:
            return "refused"
        except Exception as exc:  # surfaced by the assertion below
            return f"error: {exc!r}"

    # when
    outcomes = run_together(*[partial(spend, n) for n in range(THREADS)]).values()

    # then
    assert sorted(set(outcomes)) == ["ok", "refused"], outcomes
    assert outcomes.count("ok") == affordable
    balance = selectors.account_balance(account=card)
    assert balance.posted == Msat(PRICE // 2)
    assert balance.available == Msat(PRICE // 2)
    assert Transaction.objects.filter(idempotency_key__startswith="buy-").count() == affordable
    assert sum(selectors.account_balance(account=m).posted.value for m in merchants) == (
        PRICE * affordable
    )
    assert selectors.ledger_posted_total() == Msat(0)
    assert Account.objects.aggregate(total=Sum("posted_msat"))["total"] == 0
    assert selectors.account_balance_mismatch_list() == []


def test_racing_post_and_void_of_one_hold_settle_it_once(write_path):
    card = funded_account(10 * PRICE)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    hold = services.hold_create(entries=[(card, -PRICE), (merchant, PRICE)], idempotency_key="h")

    def settle(n: int) -> str:
        try:
            settle_hold = services.hold_post if n % 2 else services.hold_void
            return settle_hold(hold=hold.pk).status
        except Conflict:
            return "conflict"
        except Exception as exc:
            return repr(exc)

    outcomes = run_together(*[partial(settle, n) for n in range(10)]).values()

    # whichever came first won; the five callers of the other kind were refused
    final = Transaction.objects.get(pk=hold.pk).status
    assert final in ("posted", "voided")
    assert outcomes.count(final) == 5 and outcomes.count("conflict") == 5, outcomes
    card_balance = selectors.account_balance(account=card)
    expected = 9 * PRICE if final == "posted" else 10 * PRICE
    assert (card_balance.posted, card_balance.available) == (Msat(expected), Msat(expected))
    assert card_balance.pending_debit == Msat(0)
    assert selectors.account_balance(account=merchant).pending_credit == Msat(0)
    assert selectors.account_balance_mismatch_list() == []


def test_concurrent_replays_of_one_key_post_once(write_path):
    card = funded_account(10 * PRICE)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    other = AccountFactory(kind=AccountKind.MERCHANT)

    def post(n: int) -> object:
        try:
            # half the callers name the accounts in the other order: still the same request
            entries = [(card, -PRICE), (merchant, PRICE)]
            txn = services.transaction_post(
                entries=entries if n % 2 else entries[::-1], idempotency_key="same"
            )
            return txn.pk
        except Exception as exc:
            return repr(exc)

    ids = run_together(*[partial(post, n) for n in range(10)]).values()

    assert len(set(ids)) == 1 and isinstance(ids[0], int), ids
    assert selectors.account_balance(account=card).posted == Msat(9 * PRICE)
    assert selectors.account_balance(account=other).posted == Msat(0)


def test_outside_any_atomic_block_a_posting_commits_alone_or_writes_nothing(write_path):
    # (this module's tests run in autocommit, the way views and tasks call the ledger)
    card = funded_account(5 * PRICE)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    assert not connection.in_atomic_block
    first = services.transaction_post(
        entries=[(card, -PRICE), (merchant, PRICE)], idempotency_key="alone"
    )
    before = Transaction.objects.count()

    with pytest.raises(InsufficientFunds):
        services.transaction_post(
            entries=[(card, -5 * PRICE), (merchant, 5 * PRICE)], idempotency_key="too-much"
        )
    # a replay is caught by the unique key, and the connection is still usable afterwards
    again = services.transaction_post(
        entries=[(card, -PRICE), (merchant, PRICE)], idempotency_key="alone"
    )

    assert again.pk == first.pk
    assert Transaction.objects.count() == before
    assert not Transaction.objects.filter(idempotency_key="too-much").exists()
    assert selectors.account_balance(account=card).posted == Msat(4 * PRICE)
    assert selectors.account_balance(account=merchant).posted == Msat(PRICE)
    assert selectors.account_balance_mismatch_list() == []


def test_opposite_transfers_between_two_accounts_never_deadlock(write_path):
    # given: two cards paying each other back and forth from many threads at once
    first, second = funded_account(100 * PRICE), funded_account(100 * PRICE)
    threads_count, rounds = 8, 15

    def ping_pong(n: int) -> None:
        for r in range(rounds):
            payer, payee = (first, second) if (n + r) % 2 else (second, first)
            # each transfer names the payee first half of the time: the lock order must
            # not depend on the order of the entries
            entries = [(payer, -PRICE), (payee, PRICE)]
            services.transaction_post(
                entries=entries if r % 3 else entries[::-1], idempotency_key=f"pp-{n}-{r}"
            )

    results = run_together(*[partial(ping_pong, n) for n in range(threads_count)])

    # then: every transfer went through (a deadlock would surface as OperationalError) and no
    # money was lost or made
    assert [repr(error) for error in results.errors] == []
    assert Transaction.objects.filter(idempotency_key__startswith="pp-").count() == (
        threads_count * rounds
    )
    posted = [selectors.account_balance(account=a).posted.value for a in (first, second)]
    assert sum(posted) == 200 * PRICE
    assert selectors.ledger_posted_total() == Msat(0)
    assert selectors.account_balance_mismatch_list() == []


def test_concurrent_first_use_creates_one_account():

    def create() -> object:
        try:
            return services.account_get_or_create(kind="merchant", reference="store-x").pk
        except Exception as exc:
            return repr(exc)

    ids = run_together(*[create] * 10).values()

    assert len(set(ids)) == 1 and isinstance(ids[0], int), ids
    assert Account.objects.filter(kind="merchant", reference="store-x").count() == 1
