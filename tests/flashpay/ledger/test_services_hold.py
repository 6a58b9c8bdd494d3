"""Holds: reserve (pending), then post or void; posted versus available balances."""
import pytest

from flashpay.errors import Conflict, InsufficientFunds
from flashpay.ledger import selectors, services
from flashpay.ledger.models import AccountKind, Transaction, TransactionStatus
from flashpay.money import Msat

from .factories import AccountFactory, funded_account

pytestmark = pytest.mark.django_db


def balances(account):
    balance = selectors.account_balance(account=account)
    return balance.posted.value, balance.available.value, balance.pending_credit.value


def test_hold_reserves_at_once_and_posting_moves_the_money(write_path):
    card = funded_account(10_000)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)

    hold = services.hold_create(
        entries=[(card, -4_000), (merchant, 4_000)], idempotency_key="tap-1"
    )

    assert hold.status == TransactionStatus.PENDING
    # outgoing reserved money lowers available at once; posted is untouched
    assert balances(card) == (10_000, 6_000, 0)
    # incoming pending money is not available yet
    assert balances(merchant) == (0, 0, 4_000)

    posted = services.hold_post(hold=hold)

    assert posted.status == TransactionStatus.POSTED and posted.posted_at is not None
    assert balances(card) == (6_000, 6_000, 0)
    assert balances(merchant) == (4_000, 4_000, 0)
    assert selectors.ledger_posted_total() == Msat(0)
    assert selectors.account_balance_mismatch_list() == []


def test_voiding_a_hold_gives_the_money_back(write_path):
    card = funded_account(10_000)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    hold = services.hold_create(entries=[(card, -4_000), (merchant, 4_000)], idempotency_key="t")

    voided = services.hold_void(hold=hold.pk)

    assert voided.status == TransactionStatus.VOIDED and voided.voided_at is not None
    assert balances(card) == (10_000, 10_000, 0)
    assert balances(merchant) == (0, 0, 0)
    assert selectors.account_balance_mismatch_list() == []


def test_a_hold_cannot_reserve_more_than_is_available(write_path):
    card = funded_account(10_000)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    services.hold_create(entries=[(card, -6_000), (merchant, 6_000)], idempotency_key="h1")

    with pytest.raises(InsufficientFunds):
        services.hold_create(entries=[(card, -5_000), (merchant, 5_000)], idempotency_key="h2")
    with pytest.raises(InsufficientFunds):
        services.transaction_post(
            entries=[(card, -5_000), (merchant, 5_000)], idempotency_key="p"
        )

    assert not Transaction.objects.filter(idempotency_key__in=["h2", "p"]).exists()
    assert balances(card) == (10_000, 4_000, 0)


def test_pending_incoming_money_cannot_be_spent():
    card = funded_account(1_000)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    other = AccountFactory()
    services.hold_create(entries=[(card, -1_000), (merchant, 1_000)], idempotency_key="in")

    with pytest.raises(InsufficientFunds):
        services.transaction_post(entries=[(merchant, -1), (other, 1)], idempotency_key="out")


def test_only_pending_to_posted_or_voided():
    card = funded_account(10_000)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    posted = services.hold_create(entries=[(card, -1), (merchant, 1)], idempotency_key="a")
    services.hold_post(hold=posted)
    voided = services.hold_create(entries=[(card, -2), (merchant, 2)], idempotency_key="b")
    services.hold_void(hold=voided)
    direct = services.transaction_post(entries=[(card, -3), (merchant, 3)], idempotency_key="c")

    with pytest.raises(Conflict, match="posted, not pending"):
        services.hold_void(hold=posted)
    with pytest.raises(Conflict, match="voided, not pending"):
        services.hold_post(hold=voided)
    with pytest.raises(Conflict, match="not a hold"):
        services.hold_void(hold=direct)
    with pytest.raises(Conflict, match="not a hold"):
        services.hold_post(hold=direct)

    # repeating the same move is a no-op (a task may run twice)
    assert services.hold_post(hold=posted).status == TransactionStatus.POSTED
    assert services.hold_void(hold=voided).status == TransactionStatus.VOIDED
    assert balances(card) == (10_000 - 1 - 3, 10_000 - 1 - 3, 0)
    assert balances(merchant) == (4, 4, 0)
    assert selectors.account_balance_mismatch_list() == []


def test_replaying_a_hold_returns_it_in_its_current_state():
    card = funded_account(10_000)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    hold = services.hold_create(entries=[(card, -5), (merchant, 5)], idempotency_key="r")
    services.hold_post(hold=hold)

    again = services.hold_create(entries=[(card, -5), (merchant, 5)], idempotency_key="r")

    assert again.pk == hold.pk and again.status == TransactionStatus.POSTED
    assert balances(card) == (9_995, 9_995, 0)
    with pytest.raises(Conflict):
        services.transaction_post(entries=[(card, -5), (merchant, 5)], idempotency_key="r")


def test_pending_holds_are_listed_oldest_first_until_settled():
    card = funded_account(10_000)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    first = services.hold_create(entries=[(card, -1), (merchant, 1)], idempotency_key="1")
    second = services.hold_create(entries=[(card, -2), (merchant, 2)], idempotency_key="2")
    third = services.hold_create(entries=[(card, -3), (merchant, 3)], idempotency_key="3")
    services.hold_post(hold=second)

    assert list(selectors.hold_pending_list()) == [first, third]
    assert list(selectors.hold_pending_list(created_before=third.created_at)) == [first]
