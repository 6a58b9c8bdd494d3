"""End to end over the devnodes: a BTCPay-style request, paid on-chain in two parts, and over Lightning."""
from decimal import Decimal

import pytest

from flashpay.events.models import Event
from flashpay.ledger.models import Account
from invoices.models import InvoiceEvent, InvoicePayment
from invoices.onchain.services import onchain_sync_once
from invoices.services.payments import invoice_own_node_payments_sync
from lightning.services import lightning_invoices_reconcile
from tests.factories import token_header
from tests.invoices.api import invoice_create, invoice_get, invoice_payment_methods
from tests.invoices.conftest import deliver, invoice_events, vpub
from tests.invoices.factories import store_setup_payment_methods
from tests.invoices.greenfield_schema import validate

pytestmark = pytest.mark.django_db

# what the webhook sender adds to each delivery of an outbox payload (invoices/webhooks/services.py)
DELIVERY_FIELDS = frozenset({"deliveryId", "webhookId", "originalDeliveryId", "isRedelivery", "timestamp"})
WEBHOOK_SCHEMAS = {
    "InvoiceCreated": "WebhookInvoiceEvent",
    "InvoiceReceivedPayment": "WebhookInvoiceReceivedPaymentEvent",
    "InvoicePaymentSettled": "WebhookInvoicePaymentSettledEvent",
    "InvoiceProcessing": "WebhookInvoiceProcessingEvent",
    "InvoiceSettled": "WebhookInvoiceSettledEvent",
    "InvoiceExpired": "WebhookInvoiceExpiredEvent",
    "InvoiceInvalid": "WebhookInvoiceInvalidEvent",
}


def test_onchain_partial_then_rest_then_confirmed(api_client, shop, bitcoind_client, bitcoind_miner):
    store, headers = shop
    onchain_sync_once(client=bitcoind_client)  # cursor at the current tip
    # given an invoice of 10 USD at 50,000 USD/BTC = 20,000 sats
    invoice = invoice_create(api_client, store, headers, {
        "amount": "10.00", "currency": "USD",
        "metadata": {"orderId": "order-1", "buyerEmail": "buyer@example.com"},
        "checkout": {"speedPolicy": "MediumSpeed", "paymentMethods": ["BTC-CHAIN", "BTC-LN"]},
    })
    assert (invoice["status"], invoice["additionalStatus"], invoice["amount"]) == ("New", "None", "10.00")
    methods = invoice_payment_methods(api_client, invoice["id"], headers)
    chain = methods["BTC-CHAIN"]
    assert chain["amount"] == "0.00020000" and chain["due"] == "0.00020000"
    assert chain["paymentLink"] == f"bitcoin:{chain['destination']}?amount=0.00020000"
    assert methods["BTC-LN"]["destination"].startswith("lnbcrt200u")

    # when the customer pays half on-chain
    bitcoind_miner.send_to_address(chain["destination"], Decimal("0.0001"))
    onchain_sync_once(client=bitcoind_client)
    deliver()
    # then the invoice is New + PaidPartial with one Processing payment
    data = invoice_get(api_client, invoice["id"], headers)
    assert (data["status"], data["additionalStatus"], data["paidAmount"]) == ("New", "PaidPartial", "5.00")
    assert invoice_payment_methods(api_client, invoice["id"], headers)["BTC-CHAIN"]["due"] == "0.00010000"

    # when the rest arrives (unconfirmed)
    bitcoind_miner.send_to_address(chain["destination"], Decimal("0.0001"))
    onchain_sync_once(client=bitcoind_client)
    deliver()
    data = invoice_get(api_client, invoice["id"], headers)
    assert (data["status"], data["additionalStatus"]) == ("Processing", "None")

    # when a block confirms both (MediumSpeed: one confirmation)
    bitcoind_miner.generate_to_address(1, bitcoind_miner.get_new_address())
    onchain_sync_once(client=bitcoind_client)
    deliver()
    data = invoice_get(api_client, invoice["id"], headers)
    assert (data["status"], data["additionalStatus"]) == ("Settled", "None")
    payments = invoice_payment_methods(api_client, invoice["id"], headers)["BTC-CHAIN"]["payments"]
    assert [p["status"] for p in payments] == ["Settled", "Settled"]
    assert [p["value"] for p in payments] == ["0.00010000", "0.00010000"]
    assert invoice_events(invoice["id"]) == [
        "InvoiceCreated",
        "InvoiceReceivedPayment",
        "InvoiceReceivedPayment",
        "InvoiceProcessing",
        "InvoicePaymentSettled",
        "InvoicePaymentSettled",
        "InvoiceSettled",
    ]
    audit = list(InvoiceEvent.objects.filter(invoice_id=invoice["id"]).values_list("to_status", "to_additional_status"))
    assert audit == [("New", "None"), ("New", "PaidPartial"), ("Processing", "None"), ("Settled", "None")]
    # every outbox payload is the Greenfield webhook body (the sender adds the delivery fields)
    for event in Event.objects.filter(aggregate_type="invoice", aggregate_id=invoice["id"]):
        schema = WEBHOOK_SCHEMAS[event.type]
        validate(event.payload, schema, optional=DELIVERY_FIELDS)
        assert event.payload["metadata"] == {"orderId": "order-1", "buyerEmail": "buyer@example.com"}


def test_lightning_payment_settles_at_once_and_credits_the_merchant_once(
    api_client, shop, lnd_network, lnd_backend, lnd_external
):
    store, headers = shop
    invoice = invoice_create(api_client, store, headers, {"amount": "0.0005", "currency": "BTC", "metadata": {"itemDesc": "Tea"}})
    bolt11 = invoice_payment_methods(api_client, invoice["id"], headers)["BTC-LN"]["destination"]

    # when the external node pays the BOLT11 and the watcher records it
    result = lnd_external.pay(bolt11, fee_limit_msat=1000, timeout=5)
    assert result.status == "success"
    pubkey = lnd_network.nodes["flashpay"].pubkey
    lightning_invoices_reconcile(backend=lnd_backend, node_pubkey=pubkey)
    deliver()
    deliver()  # a redelivery changes nothing

    data = invoice_get(api_client, invoice["id"], headers)
    assert (data["status"], data["additionalStatus"], data["paidAmount"]) == ("Settled", "None", "0.00050000")
    payment = InvoicePayment.objects.get(invoice_id=invoice["id"])
    assert (payment.payment_method_id, payment.status, payment.amount_msat) == ("BTC-LN", "Settled", 50_000_000)
    assert invoice_events(invoice["id"]) == [
        "InvoiceCreated", "InvoiceReceivedPayment", "InvoicePaymentSettled", "InvoiceProcessing", "InvoiceSettled",
    ]
    merchant = Account.objects.get(kind="merchant", reference=store.pk)
    assert merchant.posted_msat == 50_000_000


def test_lightning_on_the_merchants_own_node(api_client, merchant, nodes, lnd_network, lnd_backend):
    _owner, store, secret = merchant
    headers = token_header(secret)
    # the devnode's "external" node plays the merchant's own node
    store_setup_payment_methods(store=store, xpub=vpub(), lightning=lnd_network.connection_string("external"))
    invoice = invoice_create(api_client, store, headers, {"amount": "0.0001", "currency": "BTC"})
    bolt11 = invoice_payment_methods(api_client, invoice["id"], headers)["BTC-LN"]["destination"]
    assert invoice_own_node_payments_sync() == 0  # not paid yet

    assert lnd_backend.pay(bolt11, fee_limit_msat=100_000, timeout=5).status == "success"
    assert invoice_own_node_payments_sync() == 1
    assert invoice_own_node_payments_sync() == 0

    data = invoice_get(api_client, invoice["id"], headers)
    assert (data["status"], data["paidAmount"]) == ("Settled", "0.00010000")
    # the money is on the merchant's node, not in FlashPay's ledger
    assert not Account.objects.filter(kind="merchant", reference=store.pk).exists()
