"""seed_demo: the operator login, a demo store and a working API key (development only), a regtest
wallet and the internal node for the store, and a payable demo invoice when the nodes run."""
import re
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from flashpay.accounts.models import APIKey, Store
from invoices.models import Invoice, InvoicePayment, StorePaymentMethod
from invoices.onchain.services import onchain_sync_once
from tests.invoices.conftest import deliver

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_prints_a_working_key_and_stays_single_on_rerun(api_client, settings):
    settings.DEBUG = True
    _seed()
    output = _seed()

    assert Store.objects.filter(name="Demo Store").count() == 1
    assert APIKey.objects.filter(label="demo (make run)").count() == 1
    store_id = re.search(r"store:\s+Demo Store \((\w+)\)", output).group(1)
    secret = re.search(r"API key:\s+([0-9a-f]{40})", output).group(1)
    response = api_client.get(
        f"/api/v1/stores/{store_id}", HTTP_AUTHORIZATION=f"token {secret}"
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Demo Store"
    password = re.search(r"password (\S+)", output).group(1)
    assert api_client.login(username="operator", password=password)


def test_seed_demo_refuses_production(settings):
    settings.DEBUG = False
    with pytest.raises(Exception, match="development"):
        _seed()
    assert not Store.objects.exists()


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
