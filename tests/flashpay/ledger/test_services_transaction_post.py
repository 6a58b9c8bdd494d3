"""Posting balanced transactions: balances, funds checks, input validation and idempotency."""
import pytest
from django.core.exceptions import ValidationError

from flashpay.errors import ApplicationError, Conflict, InsufficientFunds, NotFound
from flashpay.ledger import selectors, services
from flashpay.ledger.models import Account, AccountKind, Entry, Transaction, TransactionStatus
from flashpay.money import Msat

from .factories import AccountFactory, external_account, funded_account

pytestmark = pytest.mark.django_db


def test_balanced_posting_moves_money_and_keeps_the_total_zero(write_path):
    # given
    card = funded_account(10_000)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    fees = services.account_get_or_create(kind=AccountKind.FEES, reference="flash")

    # when
    txn = services.transaction_post(
        entries=[(card, Msat(-7_000)), (merchant, Msat(6_900)), (fees, 100)],
        idempotency_key="pay-1",
        description="coffee",
        metadata={"invoice": "abc"},
    )

    # then
    assert txn.status == TransactionStatus.POSTED
    assert selectors.account_balance(account=card).posted == Msat(3_000)
    assert selectors.account_balance(account=card).available == Msat(3_000)
    assert selectors.account_balance(account=merchant).posted == Msat(6_900)
    assert selectors.account_balance(account=fees).posted == Msat(100)
    assert selectors.transaction_entry_list(transaction=txn) == [
        (card, Msat(-7_000)),
        (merchant, Msat(6_900)),
        (fees, Msat(100)),
    ]
    assert selectors.ledger_posted_total() == Msat(0)
    assert selectors.account_balance_mismatch_list() == []


def test_overdraft_is_refused_and_nothing_is_written(write_path):
    card = funded_account(5_000)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    before = (Transaction.objects.count(), Entry.objects.count())

    with pytest.raises(InsufficientFunds, match=f"card:{card.reference} has 5 sats available"):
        services.transaction_post(
            entries=[(card, -5_001), (merchant, 5_001)], idempotency_key="too-much"
        )

    assert (Transaction.objects.count(), Entry.objects.count()) == before
    assert selectors.account_balance(account=card).posted == Msat(5_000)
    assert selectors.account_balance(account=merchant).posted == Msat(0)


def test_one_short_leg_of_many_refuses_the_whole_transaction(write_path):
    # given: two payers, only the second of which lacks the money
    rich, poor = funded_account(9_000), funded_account(1_000)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    before = (Transaction.objects.count(), Entry.objects.count())

    with pytest.raises(InsufficientFunds, match=f"card:{poor.reference} has 1 sats available, 2 sats needed"):
        services.transaction_post(
            entries=[(rich, -3_000), (poor, -2_000), (merchant, 5_000)], idempotency_key="split"
        )

    # then: not even the rich payer's leg was written
    assert (Transaction.objects.count(), Entry.objects.count()) == before
    balances = [selectors.account_balance(account=a).posted for a in (rich, poor, merchant)]
    assert balances == [Msat(9_000), Msat(1_000), Msat(0)]


def test_an_account_that_does_not_exist_is_not_found_and_nothing_is_written(write_path):
    card = funded_account(5_000)
    ghost = Account(pk=card.pk + 10_000, kind=AccountKind.MERCHANT, reference="ghost")
    before = (Transaction.objects.count(), Entry.objects.count())

    with pytest.raises(NotFound, match=str(ghost.pk)):
        services.transaction_post(entries=[(card, -1_000), (ghost, 1_000)], idempotency_key="g")

    assert (Transaction.objects.count(), Entry.objects.count()) == before
    assert selectors.account_balance(account=card).posted == Msat(5_000)


def test_spending_the_whole_balance_is_allowed():
    card = funded_account(5_000)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)

    services.transaction_post(entries=[(card, -5_000), (merchant, 5_000)], idempotency_key="all")

    assert selectors.account_balance(account=card).available == Msat(0)


def test_program_side_accounts_may_go_negative():
    world = external_account()
    card = AccountFactory()

    services.transaction_post(entries=[(world, -1_000), (card, 1_000)], idempotency_key="topup")

    assert selectors.account_balance(account=world).posted == Msat(-1_000)


@pytest.mark.parametrize(
    ("amounts", "message"),
    [
        ((-100, 99), "sum to zero"),
        ((-100,), "at least two"),
        ((0, 0), "cannot be zero"),
    ],
)
def test_malformed_transactions_are_refused_and_nothing_is_written(amounts, message):
    world = external_account()
    accounts = [world, AccountFactory()][: len(amounts)]
    before = (Transaction.objects.count(), Entry.objects.count())

    with pytest.raises(ApplicationError, match=message):
        services.transaction_post(
            entries=list(zip(accounts, amounts, strict=True)), idempotency_key="bad"
        )

    assert (Transaction.objects.count(), Entry.objects.count()) == before


def test_floats_and_repeated_accounts_are_refused():
    world = external_account()
    card = AccountFactory()

    with pytest.raises(TypeError):
        services.transaction_post(entries=[(world, -1.5), (card, 1.5)], idempotency_key="f")
    with pytest.raises(ApplicationError, match="at most once"):
        services.transaction_post(
            entries=[(world, -2), (card, 1), (card, 1)], idempotency_key="twice"
        )
    assert not Transaction.objects.filter(idempotency_key__in=["f", "twice"]).exists()


def test_replay_with_the_same_key_returns_the_first_transaction(write_path):
    card = funded_account(10_000)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    first = services.transaction_post(
        entries=[(card, -1_000), (merchant, 1_000)], idempotency_key="once"
    )

    again = services.transaction_post(
        entries=[(merchant, 1_000), (card, -1_000)], idempotency_key="once"
    )

    assert again.pk == first.pk
    assert Transaction.objects.filter(idempotency_key="once").count() == 1
    assert selectors.account_balance(account=card).posted == Msat(9_000)
    assert selectors.account_balance(account=merchant).posted == Msat(1_000)


def test_same_key_with_other_entries_is_a_conflict_and_writes_nothing(write_path):
    card = funded_account(10_000)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    services.transaction_post(entries=[(card, -1_000), (merchant, 1_000)], idempotency_key="k")

    with pytest.raises(Conflict, match="already used"):
        services.transaction_post(
            entries=[(card, -2_000), (merchant, 2_000)], idempotency_key="k"
        )
    with pytest.raises(Conflict):
        services.hold_create(entries=[(card, -1_000), (merchant, 1_000)], idempotency_key="k")

    assert selectors.account_balance(account=card).posted == Msat(9_000)
    assert selectors.account_balance(account=card).pending_debit == Msat(0)
    assert Entry.objects.filter(transaction__idempotency_key="k").count() == 2


def test_account_get_or_create_is_unique_per_kind_and_reference():
    a = services.account_get_or_create(kind="merchant", reference="store1", name="Shop")
    b = services.account_get_or_create(kind="merchant", reference="store1", name="Other")
    c = services.account_get_or_create(kind="card", reference="store1")

    assert a.pk == b.pk and b.name == "Shop"
    assert c.pk != a.pk
    assert not a.allow_negative
    assert services.account_get_or_create(kind="node", reference="lnd").allow_negative
    assert selectors.account_get(kind="merchant", reference="store1").pk == a.pk


def test_customer_accounts_cannot_be_made_overdraftable():
    with pytest.raises(ApplicationError, match="never go negative"):
        services.account_get_or_create(kind="card", reference="c1", allow_negative=True)
    with pytest.raises(ApplicationError, match="unknown"):
        services.account_get_or_create(kind="bank", reference="c1")
    assert not selectors.account_entry_list(account=external_account()).exists()


def test_replay_after_the_money_was_spent_still_returns_the_first_transaction(write_path):
    card = funded_account(1_000)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    first = services.transaction_post(
        entries=[(card, -1_000), (merchant, 1_000)], idempotency_key="all-in"
    )

    # the card is empty now, yet a retry of the same request is not "insufficient funds"
    again = services.transaction_post(
        entries=[(card, -1_000), (merchant, 1_000)], idempotency_key="all-in"
    )

    assert again.pk == first.pk
    assert selectors.account_balance(account=merchant).posted == Msat(1_000)


def test_oversized_input_is_refused_before_anything_is_written():
    world, card = external_account(), AccountFactory()
    before = (Transaction.objects.count(), Entry.objects.count())

    with pytest.raises(ValidationError):
        services.transaction_post(entries=[(world, -1), (card, 1)], idempotency_key="k" * 201)
    with pytest.raises(ValidationError):
        services.transaction_post(
            entries=[(world, -1), (card, 1)], idempotency_key="d", description="x" * 501
        )
    with pytest.raises(ValidationError):
        services.transaction_post(
            entries=[(world, -1), (card, 1)], idempotency_key="nul", description="a\x00b"
        )
    with pytest.raises(ValidationError):
        services.transaction_post(
            entries=[(world, -1), (card, 1)], idempotency_key="m", metadata={"at": object()}
        )
    with pytest.raises(ApplicationError, match="21 million"):
        services.transaction_post(
            entries=[(world, -(10**19)), (card, 10**19)], idempotency_key="huge"
        )
    with pytest.raises(ApplicationError, match="idempotency key"):
        services.transaction_post(entries=[(world, -1), (card, 1)], idempotency_key="")

    assert (Transaction.objects.count(), Entry.objects.count()) == before
