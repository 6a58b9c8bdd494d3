"""seed_demo gives the demo store a regtest wallet and the internal node, and a payable demo invoice when the nodes run."""
import re
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from flashpay.accounts.models import Store
from invoices.models import Invoice, InvoicePayment, StorePaymentMethod
from invoices.onchain.services import onchain_sync_once
from tests.invoices.conftest import deliver

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_with_the_devnode_prints_a_payable_checkout_link(settings, nodes, bitcoind_client, bitcoind_miner):
    settings.DEBUG = True
    output = _seed()

    invoice_id = re.search(r"checkout: \S+/i/(\w+)", output).group(1)
    invoice = Invoice.objects.get(pk=invoice_id)
    store = Store.objects.get(name="Demo Store")
    assert invoice.store == store
    assert sorted(StorePaymentMethod.objects.filter(store=store).values_list("payment_method_id", flat=True)) == ["BTC-CHAIN", "BTC-LN"]
    assert sorted(invoice.prompts.values_list("payment_method_id", flat=True)) == ["BTC-CHAIN", "BTC-LN"]

    # the devnode can pay the demo wallet's address
    onchain_sync_once(client=bitcoind_client)
    bitcoind_miner.send_to_address(invoice.prompts.get(payment_method_id="BTC-CHAIN").address, Decimal("0.0001"))
    onchain_sync_once(client=bitcoind_client)
    deliver()
    assert InvoicePayment.objects.get().invoice == invoice

    _seed()  # rerun: same wallet, one more invoice
    assert StorePaymentMethod.objects.filter(store=store).count() == 2


def test_seed_demo_without_nodes_says_how_to_create_an_invoice(settings, rates):
    settings.DEBUG = True
    settings.BITCOIND_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    settings.BITCOIND_RPCUSER, settings.BITCOIND_RPCPASSWORD, settings.BITCOIND_COOKIE_FILE = "u", "p", ""
    output = _seed()
    assert "invoice:  not created (bitcoind not reachable" in output
    assert "/invoices" in output
    assert Invoice.objects.count() == 0
    assert StorePaymentMethod.objects.count() == 2
