"""flashpay.ledger.accounts: the named accounts every app uses, spelled once; existing rows keep
resolving to the same accounts, and their balances, after the naming migration."""
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from flashpay.errors import InsufficientFunds
from flashpay.ledger import accounts
from flashpay.ledger.models import Account
from flashpay.ledger.selectors import account_balance
from flashpay.ledger.services import account_get_or_create, transaction_post

SAT = 1000


@pytest.mark.django_db
def test_each_named_account_keeps_the_kind_and_reference_existing_rows_use():
    # the spellings invoices, cards (payments, top-ups, settlement) used before this module
    assert [(a.kind, a.reference) for a in (
        accounts.node_account(),
        accounts.merchant_account(store_id="Store1"),
        accounts.card_account(card_id="crd_1", name="Alice"),
        accounts.card_settlement_fees_account(),
        accounts.hot_wallet_account(wallet="payouts"),
        accounts.topup_wallet_account(store_id="Store1"),
    )] == [
        ("node", "lightning"),
        ("merchant", "Store1"),
        ("card", "crd_1"),
        ("fees", "card-settlement"),
        ("node", "bitcoind-wallet:payouts"),
        ("external", "topup-wallet:Store1"),
    ]
    assert accounts.merchant_account_get(store_id="Store1") == accounts.merchant_account(store_id="Store1")
    assert accounts.card_account_get(card_id="crd_1").name == "Alice"
    assert Account.objects.count() == 6


@pytest.mark.django_db
def test_an_existing_merchant_account_keeps_its_balance():
    # given: a merchant account opened the way settlement did (no name), holding sales
    old = account_get_or_create(kind="merchant", reference="Shop")
    transaction_post(entries=[(accounts.node_account(), -5_000 * SAT), (old, 5_000 * SAT)], idempotency_key="sale-1")
    # when: invoices credits it through the named helper
    merchant = accounts.merchant_account(store_id="Shop")
    transaction_post(entries=[(accounts.node_account(), -1_000 * SAT), (merchant, 1_000 * SAT)], idempotency_key="sale-2")
    # then: one account, one balance
    assert merchant.pk == old.pk
    assert account_balance(account=old).posted.value == 6_000 * SAT
    assert Account.objects.filter(kind="merchant").count() == 1


@pytest.mark.django_db
def test_funding_accounts_never_go_negative():
    program = accounts.funding_account()
    store = accounts.funding_account(store_id="Shop")
    assert (program.kind, program.reference, program.allow_negative) == ("program_budget", "program", False)
    assert (store.kind, store.reference, store.allow_negative) == ("program_budget", "store:Shop", False)
    card = accounts.card_account(card_id="crd_1")

    with pytest.raises(InsufficientFunds):
        transaction_post(entries=[(store, -1_000), (card, 1_000)], idempotency_key="reward-1")

    assert account_balance(account=card).posted.value == 0
    assert account_balance(account=store).posted.value == 0


@pytest.mark.django_db(transaction=True)
def test_the_naming_migration_names_unnamed_merchants_and_moves_no_money():
    executor = MigrationExecutor(connection)
    executor.migrate([("ledger", "0002_triggers")])
    try:
        # given: before the migration, an unnamed merchant account with money and a named one
        unnamed = account_get_or_create(kind="merchant", reference="Shop")
        named = account_get_or_create(kind="merchant", reference="Cafe", name="Merchant Cafe")
        node = account_get_or_create(kind="node", reference="lightning", name="Lightning node")
        transaction_post(entries=[(node, -7_000 * SAT), (unnamed, 4_000 * SAT), (named, 3_000 * SAT)], idempotency_key="k")
    finally:
        # when
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    # then: the names every path gives; the same rows, the same balances
    unnamed.refresh_from_db()
    named.refresh_from_db()
    assert (unnamed.name, named.name) == ("Merchant Shop", "Merchant Cafe")
    assert accounts.merchant_account(store_id="Shop").pk == unnamed.pk
    assert account_balance(account=unnamed).posted.value == 4_000 * SAT
    assert account_balance(account=named).posted.value == 3_000 * SAT
    assert Account.objects.get(kind="node").name == "Lightning node"


@pytest.mark.django_db
def test_the_rewards_accounts():
    pending = accounts.member_points_account(member_id="m1", state="pending")
    available = accounts.member_points_account(member_id="m1", state="available")
    assert [(a.kind, a.reference, a.allow_negative) for a in (
        pending, available, accounts.rewards_topup_source_account(), accounts.rewards_catalog_account(),
    )] == [
        ("member", "m1:pending", False),
        ("member", "m1:available", False),
        ("external", "rewards-topups", True),
        ("program_budget", "rewards-catalog", False),
    ]
    with pytest.raises(ValueError):
        accounts.member_points_account(member_id="m1", state="spent")
