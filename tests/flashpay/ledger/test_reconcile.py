"""Reconciliation: cached balances checked against entries by the command and the task."""
import pytest
from django.core.management import CommandError, call_command

from flashpay.ledger import selectors, services, tasks
from flashpay.ledger.models import Account, AccountKind
from flashpay.money import Msat

from .factories import AccountFactory, funded_account

pytestmark = pytest.mark.django_db


def _some_activity():
    card = funded_account(10_000)
    merchant = AccountFactory(kind=AccountKind.MERCHANT)
    services.transaction_post(entries=[(card, -1_000), (merchant, 1_000)], idempotency_key="p")
    services.hold_create(entries=[(card, -2_000), (merchant, 2_000)], idempotency_key="h")
    return card, merchant


def test_a_sound_ledger_reconciles_cleanly(capsys):
    _some_activity()

    call_command("ledger_reconcile")

    assert "0 mismatch(es), posted total 0 msat" in capsys.readouterr().out
    assert tasks.ledger_reconcile_task()["ok"] is True


def test_tampered_cache_is_found_and_fix_repairs_it(capsys):
    card, merchant = _some_activity()
    # someone edits the cache behind the services' back
    Account.objects.filter(pk=card.pk).update(posted_msat=50_000, pending_debit_msat=0)

    with pytest.raises(CommandError, match="mismatches"):
        call_command("ledger_reconcile")
    out = capsys.readouterr().out
    assert f"MISMATCH account {card.pk}" in out
    assert "posted=50000 pending_debit=0" in out and "posted=9000 pending_debit=2000" in out
    assert f"MISMATCH account {merchant.pk}" not in out
    # without --fix nothing is rewritten
    assert selectors.account_balance(account=card).posted == Msat(50_000)
    assert tasks.ledger_reconcile_task()["mismatches"] == [card.pk]

    with pytest.raises(CommandError):
        call_command("ledger_reconcile", "--fix")
    assert "1 cache(s) rewritten" in capsys.readouterr().out

    balance = selectors.account_balance(account=card)
    assert (balance.posted, balance.available) == (Msat(9_000), Msat(7_000))
    call_command("ledger_reconcile")  # clean again: no CommandError
    assert selectors.account_balance_mismatch_list() == []
