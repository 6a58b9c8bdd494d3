"""Reversals: a mirror transaction linked to the original, never twice."""
import pytest

from flashpay.errors import Conflict, InsufficientFunds
from flashpay.ledger import selectors, services
from flashpay.ledger.models import AccountKind, Transaction
from flashpay.money import Msat

from .factories import AccountFactory, funded_account

pytestmark = pytest.mark.django_db


def test_reversal_posts_the_mirror_and_links_it(write_path):
    card = funded_account(10_000)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    original = services.transaction_post(
        entries=[(card, -3_000), (merchant, 3_000)], idempotency_key="sale"
    )

    reversal = services.transaction_reverse(transaction=original, description="refund")

    assert reversal.reverses_id == original.pk
    assert list(original.reversals.all()) == [reversal]
    assert selectors.transaction_entry_list(transaction=reversal) == [
        (card, Msat(3_000)),
        (merchant, Msat(-3_000)),
    ]
    assert selectors.account_balance(account=card).posted == Msat(10_000)
    assert selectors.account_balance(account=merchant).posted == Msat(0)
    # the original is left as it was: history is never edited
    assert selectors.transaction_entry_list(transaction=original) == [
        (card, Msat(-3_000)),
        (merchant, Msat(3_000)),
    ]


def test_reversing_twice_is_refused(write_path):
    card = funded_account(10_000)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    original = services.transaction_post(
        entries=[(card, -3_000), (merchant, 3_000)], idempotency_key="sale"
    )
    reversal = services.transaction_reverse(transaction=original)

    with pytest.raises(Conflict, match="already reversed"):
        services.transaction_reverse(transaction=original.pk, idempotency_key="other-key")
    with pytest.raises(Conflict, match="is a reversal"):
        services.transaction_reverse(transaction=reversal)

    assert Transaction.objects.count() == 3  # funding, sale, one reversal
    assert selectors.account_balance(account=card).posted == Msat(10_000)


def test_pending_holds_are_voided_not_reversed():
    card = funded_account(10_000)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    hold = services.hold_create(entries=[(card, -1), (merchant, 1)], idempotency_key="h")

    with pytest.raises(Conflict, match="pending"):
        services.transaction_reverse(transaction=hold)


def test_reversal_cannot_overdraw_an_account_that_spent_the_money():
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    refund = AccountFactory()
    world = services.account_get_or_create(kind="external", reference="w")
    world_to_merchant = services.transaction_post(
        entries=[(world, -500), (merchant, 500)], idempotency_key="sale"
    )
    services.transaction_post(entries=[(merchant, -400), (refund, 400)], idempotency_key="payout")

    with pytest.raises(InsufficientFunds):
        services.transaction_reverse(transaction=world_to_merchant)

    assert not world_to_merchant.reversals.exists()
    assert selectors.account_balance(account=merchant).posted == Msat(100)
