"""The ledger admin is strictly read-only, even for a superuser."""
import pytest
from django.urls import reverse

from flashpay.ledger import selectors, services
from flashpay.ledger.models import Account, AccountKind, Transaction
from flashpay.money import Msat
from tests.factories import UserFactory

from .factories import AccountFactory, funded_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_operators_can_look_at_accounts_and_transactions_with_entries(operator_client):
    card = funded_account(5_000, reference="card-xyz")
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    txn = services.transaction_post(
        entries=[(card, -1_234), (merchant, 1_234)], idempotency_key="visible-key"
    )

    accounts = operator_client.get(reverse("admin:ledger_account_changelist"))
    detail = operator_client.get(reverse("admin:ledger_transaction_change", args=[txn.pk]))

    assert accounts.status_code == 200 and b"card-xyz" in accounts.content
    assert detail.status_code == 200
    assert b"visible-key" in detail.content and b"-1234" in detail.content


def test_nothing_can_be_added_changed_or_deleted(operator_client):
    card = funded_account(5_000)
    txn = Transaction.objects.get(idempotency_key=f"fund:{card.pk}")

    add = operator_client.get(reverse("admin:ledger_account_add"))
    add_txn = operator_client.post(
        reverse("admin:ledger_transaction_add"), {"idempotency_key": "x", "status": "posted"}
    )
    change = operator_client.post(
        reverse("admin:ledger_account_change", args=[card.pk]),
        {"kind": "card", "reference": card.reference, "name": "hacked"},
    )
    delete = operator_client.post(
        reverse("admin:ledger_transaction_delete", args=[txn.pk]), {"post": "yes"}
    )

    assert add.status_code == 403
    assert add_txn.status_code == 403
    assert change.status_code == 403
    assert delete.status_code == 403
    assert Account.objects.get(pk=card.pk).name != "hacked"
    assert Transaction.objects.filter(pk=txn.pk).exists()
    assert not Transaction.objects.filter(idempotency_key="x").exists()
    assert selectors.account_balance(account=card).posted == Msat(5_000)
