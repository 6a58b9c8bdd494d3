"""After a partial payment, BTC-LN offers a fresh BOLT11 for exactly what is still due (minted by a task
after commit, the old BOLT11 canceled on the node), over the devnodes: bitcoind for the partial
payment, LND for the Lightning one."""
import time
from decimal import Decimal

import bolt11
import pytest
from django.db import transaction
from django_q.models import OrmQ

from flashpay.ledger.models import Account
from invoices import tasks
from invoices.models import InvoicePayment, InvoicePaymentPrompt
from invoices.onchain.services import onchain_sync_once
from invoices.services.lnurl import invoice_lnurl_pay_request
from invoices.services.payments import (
    invoice_own_node_payments_sync,
    invoice_payment_onchain_record,
)
from invoices.services.remainder import (
    invoice_lightning_remainder_refresh,
    invoice_lightning_remainders_sweep,
)
from lightning.backends import InvoiceState, PaymentStatus
from lightning.models import LightningInvoice
from lightning.services import lightning_invoices_reconcile
from tests.factories import token_header
from tests.invoices.api import invoice_create, invoice_get, invoice_payment_methods
from tests.invoices.conftest import deliver, vpub
from tests.invoices.factories import make_invoice, store_setup_payment_methods

SAT = 1000
REMAINDER_TASK = "invoices.tasks.invoice_lightning_remainder_task"
CANCEL_TASK = "invoices.tasks.invoice_prompt_node_cancel_task"


def _queued(func: str) -> list[tuple]:
    return [q.task["args"] for q in OrmQ.objects.all() if q.func() == func]


def _create(api_client, store, headers, **checkout):
    body = {
        "amount": "10.00", "currency": "USD",
        "checkout": {"speedPolicy": "MediumSpeed", "paymentMethods": ["BTC-CHAIN", "BTC-LN"], **checkout},
    }
    return invoice_create(api_client, store, headers, body)


def _pay_onchain(bitcoind_client, bitcoind_miner, address: str, btc: str) -> None:
    bitcoind_miner.send_to_address(address, Decimal(btc))
    onchain_sync_once(client=bitcoind_client)
    deliver()


def _record_lightning(lnd_backend, lnd_network) -> None:
    """What the watcher does: ask our node about its open invoices, then deliver the events."""
    lightning_invoices_reconcile(backend=lnd_backend, node_pubkey=lnd_network.nodes["flashpay"].pubkey)
    deliver()


@pytest.mark.django_db(transaction=True)
def test_partial_onchain_payment_then_the_rest_over_lightning(
    api_client, client, shop, bitcoind_client, bitcoind_miner, lnd_network, lnd_backend, lnd_external
):
    store, headers = shop
    onchain_sync_once(client=bitcoind_client)
    # given an invoice of 10 USD = 20,000 sats, payable on-chain and over Lightning
    invoice = _create(api_client, store, headers)
    before = invoice_payment_methods(api_client, invoice["id"], headers)
    old_bolt11 = before["BTC-LN"]["destination"]
    assert bolt11.decode(old_bolt11).amount_msat == 20_000 * SAT

    # when 12,000 sats arrive on-chain
    _pay_onchain(bitcoind_client, bitcoind_miner, before["BTC-CHAIN"]["destination"], "0.00012")
    assert (invoice_get(api_client, invoice["id"], headers)["additionalStatus"]) == "PaidPartial"
    # then the recorder only queued the mint, once its transaction committed
    assert _queued(REMAINDER_TASK) == [(invoice["id"],)]
    stale = invoice_payment_methods(api_client, invoice["id"], headers)["BTC-LN"]
    # the full-amount BOLT11 is not offered in the meantime
    assert stale["destination"] == old_bolt11 and stale["activated"] is False
    status_before = client.get(f"/i/{invoice['id']}/status").json()
    page = client.get(f"/i/{invoice['id']}").content.decode()
    assert "lightning=" not in page and old_bolt11 not in page

    # when the worker runs the task (twice: the queue may deliver twice)
    assert tasks.invoice_lightning_remainder_task(invoice["id"]) is True
    assert tasks.invoice_lightning_remainder_task(invoice["id"]) is False

    # then BTC-LN is a new BOLT11 for exactly the 8,000 sats due, expiring with the invoice
    methods = invoice_payment_methods(api_client, invoice["id"], headers)
    ln = methods["BTC-LN"]
    assert ln["destination"] != old_bolt11 and ln["activated"] is True
    assert ln["paymentLink"] == f"lightning:{ln['destination']}"
    assert ln["due"] == "0.00008000" and methods["BTC-CHAIN"]["due"] == "0.00008000"
    decoded = bolt11.decode(ln["destination"])
    assert decoded.amount_msat == 8_000 * SAT
    remaining = invoice["expirationTime"] - time.time()
    assert remaining - 30 < decoded.date + decoded.expiry - time.time() <= remaining + 1
    # the checkout offers it in the unified QR and on its own tab, and the page reloads its panel
    status_after = client.get(f"/i/{invoice['id']}/status").json()
    assert status_after["version"] != status_before["version"]
    page = client.get(f"/i/{invoice['id']}").content.decode()
    chain_address = methods["BTC-CHAIN"]["destination"]
    assert f'href="bitcoin:{chain_address}?amount=0.00008000&amp;lightning={ln["destination"]}"' in page
    assert "Copy Lightning invoice" in page and old_bolt11 not in page
    assert f'data-version="{status_after["version"]}"' in page

    # and the replaced BOLT11 is canceled on the node by the task queued with the swap
    old = InvoicePaymentPrompt.objects.get(invoice_id=invoice["id"], destination=old_bolt11)
    assert old.superseded_at is not None and _queued(CANCEL_TASK) == [(old.pk,)]
    assert tasks.invoice_prompt_node_cancel_task(old.pk) is True
    assert lnd_backend.lookup_invoice(old.payment_hash).state == InvoiceState.CANCELED
    assert LightningInvoice.objects.get(payment_hash=old.payment_hash).status == "canceled"
    assert lnd_external.pay(old_bolt11, fee_limit_msat=1000, timeout=5).status == PaymentStatus.FAILED

    # when the buyer pays the new BOLT11
    assert lnd_external.pay(ln["destination"], fee_limit_msat=1000, timeout=5).status == PaymentStatus.SUCCESS
    _record_lightning(lnd_backend, lnd_network)
    # then the invoice is paid in full, not over (on-chain still unconfirmed: Processing)
    data = invoice_get(api_client, invoice["id"], headers)
    assert (data["status"], data["additionalStatus"], data["paidAmount"]) == ("Processing", "None", "10.00")
    assert not _queued(REMAINDER_TASK)[1:]  # nothing more to mint once paid
    bitcoind_miner.generate_to_address(1, bitcoind_miner.get_new_address())
    onchain_sync_once(client=bitcoind_client)
    deliver()
    data = invoice_get(api_client, invoice["id"], headers)
    assert (data["status"], data["additionalStatus"]) == ("Settled", "None")
    assert Account.objects.get(kind="merchant", reference=store.pk).posted_msat == 8_000 * SAT
    # the receipt lists both payments
    receipt = client.get(f"/i/{invoice['id']}/receipt").content.decode()
    assert "0.00012000" in receipt and "0.00008000" in receipt


@pytest.mark.django_db(transaction=True)
def test_a_payment_to_the_replaced_bolt11_still_counts(
    api_client, shop, bitcoind_client, bitcoind_miner, lnd_network, lnd_backend, lnd_external
):
    store, headers = shop
    onchain_sync_once(client=bitcoind_client)
    invoice = _create(api_client, store, headers)
    old_bolt11 = invoice_payment_methods(api_client, invoice["id"], headers)["BTC-LN"]["destination"]
    _pay_onchain(bitcoind_client, bitcoind_miner, invoice_payment_methods(api_client, invoice["id"], headers)["BTC-CHAIN"]["destination"], "0.00005")
    assert tasks.invoice_lightning_remainder_task(invoice["id"]) is True
    old = InvoicePaymentPrompt.objects.get(invoice_id=invoice["id"], destination=old_bolt11)

    # given the old BOLT11 (20,000 sats) is paid before its cancel ran
    assert lnd_external.pay(old_bolt11, fee_limit_msat=1000, timeout=5).status == PaymentStatus.SUCCESS
    _record_lightning(lnd_backend, lnd_network)

    # then the money is recorded against the invoice, under BTC-LN, as paid to the old BOLT11
    data = invoice_get(api_client, invoice["id"], headers)
    assert (data["status"], data["additionalStatus"], data["paidAmount"]) == ("Settled", "PaidOver", "12.50")
    payment = InvoicePayment.objects.get(payment_id=old.payment_hash)
    assert (payment.invoice_id, payment.prompt_id, payment.amount_msat) == (invoice["id"], old.pk, 20_000 * SAT)
    ln = invoice_payment_methods(api_client, invoice["id"], headers)["BTC-LN"]
    assert [(p["id"], p["value"], p["destination"]) for p in ln["payments"]] == [(old.payment_hash, "0.00020000", old_bolt11)]
    assert Account.objects.get(kind="merchant", reference=store.pk).posted_msat == 20_000 * SAT
    # when the cancel runs, the node says it was paid first: nothing left to cancel, nothing retried
    assert tasks.invoice_prompt_node_cancel_task(old.pk) is True
    assert lnd_backend.lookup_invoice(old.payment_hash).state == InvoiceState.SETTLED
    assert invoice_lightning_remainders_sweep() == 0


@pytest.mark.django_db(transaction=True)
def test_the_sweep_does_what_lost_tasks_did_not(api_client, shop, lnd_backend):
    store, _headers = shop
    invoice = make_invoice(store=store, amount="10")
    address = invoice.prompts.get(payment_method_id="BTC-CHAIN").address
    old = invoice.prompts.get(payment_method_id="BTC-LN")
    invoice_payment_onchain_record(address=address, txid="ab" * 32, vout=0, amount_msat=5_000 * SAT, chain_status="seen", block_height=None)
    # given the queued tasks were lost: the sweep mints the BOLT11 for the rest and cancels the old
    assert invoice_lightning_remainders_sweep() == 2
    current = InvoicePaymentPrompt.objects.get(invoice=invoice, payment_method_id="BTC-LN", superseded_at__isnull=True)
    assert current.amount_msat == 15_000 * SAT and bolt11.decode(current.destination).amount_msat == 15_000 * SAT
    assert lnd_backend.lookup_invoice(old.payment_hash).state == InvoiceState.CANCELED
    assert invoice_lightning_remainders_sweep() == 0

    # when the on-chain payment is double-spent away, the whole amount is due again
    invoice_payment_onchain_record(address=address, txid="ab" * 32, vout=0, amount_msat=5_000 * SAT, chain_status="removed", block_height=None)
    assert invoice_lightning_remainders_sweep() == 2
    current = InvoicePaymentPrompt.objects.get(invoice=invoice, payment_method_id="BTC-LN", superseded_at__isnull=True)
    assert bolt11.decode(current.destination).amount_msat == 20_000 * SAT
    assert InvoicePaymentPrompt.objects.filter(invoice=invoice, payment_method_id="BTC-LN").count() == 3


@pytest.mark.django_db
def test_recording_a_payment_calls_no_node_and_minting_refuses_a_transaction(shop, django_capture_on_commit_callbacks):
    store, _headers = shop
    invoice = make_invoice(store=store, amount="10")
    address = invoice.prompts.get(payment_method_id="BTC-CHAIN").address
    minted = LightningInvoice.objects.count()
    # when the watcher's recorder takes a partial payment
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        invoice_payment_onchain_record(address=address, txid="cd" * 32, vout=0, amount_msat=5_000 * SAT, chain_status="seen", block_height=None)
    # then it minted nothing on the node; the mint is queued only once the transaction commits
    assert LightningInvoice.objects.count() == minted and not _queued(REMAINDER_TASK)
    for callback in callbacks:
        callback()
    assert _queued(REMAINDER_TASK) == [(invoice.pk,)]
    assert LightningInvoice.objects.count() == minted
    # and the mint itself refuses to run inside a transaction (the node is never called under a lock)
    with transaction.atomic(), pytest.raises(RuntimeError, match="not inside a transaction"):
        invoice_lightning_remainder_refresh(invoice_id=invoice.pk)
    assert LightningInvoice.objects.count() == minted
    assert InvoicePaymentPrompt.objects.filter(invoice=invoice).count() == 2


@pytest.mark.django_db(transaction=True)
def test_nothing_is_minted_for_a_paid_expired_or_top_up_invoice(shop):
    store, _headers = shop
    # a top-up takes any amount: its BOLT11 never needs replacing
    top_up = make_invoice(store=store, amount=None, currency="BTC")
    address = top_up.prompts.get(payment_method_id="BTC-CHAIN").address
    invoice_payment_onchain_record(address=address, txid="01" * 32, vout=0, amount_msat=5_000 * SAT, chain_status="seen", block_height=None)
    assert invoice_lightning_remainder_refresh(invoice_id=top_up.pk) is None
    # paid in full on-chain
    paid = make_invoice(store=store, amount="10")
    address = paid.prompts.get(payment_method_id="BTC-CHAIN").address
    invoice_payment_onchain_record(address=address, txid="02" * 32, vout=0, amount_msat=20_000 * SAT, chain_status="seen", block_height=None)
    assert invoice_lightning_remainder_refresh(invoice_id=paid.pk) is None
    # partly paid but past its expiration
    late = make_invoice(store=store, amount="10", checkout={"expirationMinutes": 1})
    address = late.prompts.get(payment_method_id="BTC-CHAIN").address
    invoice_payment_onchain_record(address=address, txid="03" * 32, vout=0, amount_msat=5_000 * SAT, chain_status="seen", block_height=None)
    type(late).objects.filter(pk=late.pk).update(expires_at=late.created_at)
    assert invoice_lightning_remainder_refresh(invoice_id=late.pk) is None
    assert invoice_lightning_remainders_sweep() == 0
    assert InvoicePaymentPrompt.objects.filter(superseded_at__isnull=False).count() == 0


@pytest.mark.django_db
def test_lnurl_asks_for_the_rest_after_a_partial_payment(api_client, shop):
    store, headers = shop
    response = api_client.put(
        f"/api/v1/stores/{store.pk}/payment-methods/BTC-LNURL", {"enabled": True, "config": {}}, format="json", **headers
    )
    assert response.status_code == 200, response.content
    invoice = make_invoice(store=store, amount="10", checkout={"paymentMethods": ["BTC-CHAIN", "BTC-LN", "BTC-LNURL"]})
    address = invoice.prompts.get(payment_method_id="BTC-CHAIN").address
    invoice_payment_onchain_record(address=address, txid="ef" * 32, vout=0, amount_msat=5_000 * SAT, chain_status="seen", block_height=None)

    # LUD-06: the pay request asks for the rest, so the callback's BOLT11 is minted for it
    pay_request = invoice_lnurl_pay_request(invoice=invoice)
    assert (pay_request["minSendable"], pay_request["maxSendable"]) == (15_000 * SAT, 15_000 * SAT)


@pytest.mark.django_db(transaction=True)
def test_the_rest_is_minted_on_the_merchants_own_node(merchant, nodes, lnd_network, lnd_backend):
    _owner, store, _secret = merchant
    # the devnode's "external" node plays the merchant's own node
    store_setup_payment_methods(store=store, xpub=vpub(), lightning=lnd_network.connection_string("external"))
    invoice = make_invoice(store=store, amount="0.0002", currency="BTC")
    address = invoice.prompts.get(payment_method_id="BTC-CHAIN").address
    old = invoice.prompts.get(payment_method_id="BTC-LN")
    invoice_payment_onchain_record(address=address, txid="aa" * 32, vout=0, amount_msat=5_000 * SAT, chain_status="seen", block_height=None)

    new = invoice_lightning_remainder_refresh(invoice_id=invoice.pk)
    assert new is not None and new.internal_node is False
    decoded = bolt11.decode(new.destination)
    assert decoded.amount_msat == 15_000 * SAT and decoded.payee == lnd_network.nodes["external"].pubkey
    assert tasks.invoice_prompt_node_cancel_task(old.pk) is True
    # the old BOLT11 was canceled on the merchant's node, so it is no longer polled there
    assert lnd_backend.pay(old.destination, fee_limit_msat=100_000, timeout=5).status == PaymentStatus.FAILED
    assert lnd_backend.pay(new.destination, fee_limit_msat=100_000, timeout=5).status == PaymentStatus.SUCCESS
    assert invoice_own_node_payments_sync() == 1
    invoice.refresh_from_db()
    assert (invoice.status, invoice.additional_status) == ("Processing", "None")
    assert not Account.objects.filter(kind="merchant", reference=store.pk).exists()


# --- LNURL-pay BOLT11s minted for the old amount ------------------------------------------------

LNURL_CANCEL_TASK = "invoices.tasks.invoice_lnurl_bolt11s_cancel_task"


def _enable_lnurl(api_client, store, headers) -> None:
    response = api_client.put(
        f"/api/v1/stores/{store.pk}/payment-methods/BTC-LNURL", {"enabled": True, "config": {}}, format="json", **headers
    )
    assert response.status_code == 200, response.content


def _lnurl_bolt11(api_client, invoice_id: str, amount_msat: int) -> str:
    """What a wallet gets from the invoice's LNURL-pay callback (LUD-06) for ``amount_msat``."""
    response = api_client.get(f"/lnurlp/i/{invoice_id}/callback", {"amount": amount_msat})
    assert response.status_code == 200, response.content
    return response.json()["pr"]


def _lnurl_invoice(api_client, store, headers):
    _enable_lnurl(api_client, store, headers)
    return make_invoice(
        store=store, amount="0.0002", currency="BTC", checkout={"paymentMethods": ["BTC-CHAIN", "BTC-LN", "BTC-LNURL"]}
    )


def _pay_part_onchain(invoice, sats: int, txid: str) -> None:
    address = invoice.prompts.get(payment_method_id="BTC-CHAIN").address
    invoice_payment_onchain_record(address=address, txid=txid, vout=0, amount_msat=sats * SAT, chain_status="seen", block_height=None)


@pytest.mark.django_db(transaction=True)
def test_lnurl_bolt11s_for_the_old_amount_are_canceled_when_the_rest_gets_its_bolt11(
    api_client, shop, lnd_network, lnd_backend, lnd_external
):
    store, headers = shop
    invoice = _lnurl_invoice(api_client, store, headers)
    # given a wallet got a BOLT11 for the whole 20,000 sats from the LNURL-pay callback
    full = _lnurl_bolt11(api_client, invoice.pk, 20_000 * SAT)
    full_hash = bolt11.decode(full).payment_hash
    # when 5,000 sats arrive on-chain and the worker mints the BTC-LN BOLT11 for the rest
    _pay_part_onchain(invoice, 5_000, "ba" * 32)
    assert tasks.invoice_lightning_remainder_task(invoice.pk) is True
    # then cancelling the LNURL BOLT11s for more than is due was queued with the swap
    assert _queued(LNURL_CANCEL_TASK) == [(invoice.pk,)]
    # meanwhile a wallet asks again and gets a BOLT11 for the 15,000 sats due
    rest = _lnurl_bolt11(api_client, invoice.pk, 15_000 * SAT)
    rest_hash = bolt11.decode(rest).payment_hash

    # when the worker runs the task (twice: the queue may deliver twice)
    assert tasks.invoice_lnurl_bolt11s_cancel_task(invoice.pk) == 1
    assert tasks.invoice_lnurl_bolt11s_cancel_task(invoice.pk) == 0
    # then the full-amount BOLT11 is canceled on the node and can no longer be paid
    assert lnd_backend.lookup_invoice(full_hash).state == InvoiceState.CANCELED
    assert LightningInvoice.objects.get(payment_hash=full_hash).status == "canceled"
    assert lnd_external.pay(full, fee_limit_msat=1000, timeout=5).status == PaymentStatus.FAILED
    # and the one for the rest is left open and pays the invoice in full, not over
    assert lnd_backend.lookup_invoice(rest_hash).state == InvoiceState.OPEN
    assert lnd_external.pay(rest, fee_limit_msat=1000, timeout=5).status == PaymentStatus.SUCCESS
    _record_lightning(lnd_backend, lnd_network)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.additional_status) == ("Processing", "None")
    assert InvoicePayment.objects.get(payment_id=rest_hash).amount_msat == 15_000 * SAT
    assert not InvoicePayment.objects.filter(payment_id=full_hash).exists()
    # once the replaced BTC-LN BOLT11's own task ran, the sweep finds nothing left to cancel
    assert tasks.invoice_prompt_node_cancel_task(*_queued(CANCEL_TASK)[0]) is True
    assert invoice_lightning_remainders_sweep() == 0


@pytest.mark.django_db(transaction=True)
def test_a_payment_to_an_lnurl_bolt11_for_the_old_amount_still_counts(
    api_client, shop, lnd_network, lnd_backend, lnd_external
):
    store, headers = shop
    invoice = _lnurl_invoice(api_client, store, headers)
    full = _lnurl_bolt11(api_client, invoice.pk, 20_000 * SAT)
    full_hash = bolt11.decode(full).payment_hash
    _pay_part_onchain(invoice, 5_000, "bb" * 32)
    assert tasks.invoice_lightning_remainder_task(invoice.pk) is True

    # given the wallet paid the 20,000 sats BOLT11 before the cancel ran
    assert lnd_external.pay(full, fee_limit_msat=1000, timeout=5).status == PaymentStatus.SUCCESS
    # when the cancel runs, the node says it was paid first: nothing canceled
    assert tasks.invoice_lnurl_bolt11s_cancel_task(invoice.pk) == 0
    assert lnd_backend.lookup_invoice(full_hash).state == InvoiceState.SETTLED
    # then the watcher records the money against the invoice, as an LNURL payment
    _record_lightning(lnd_backend, lnd_network)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.additional_status) == ("Settled", "PaidOver")
    payment = InvoicePayment.objects.get(payment_id=full_hash)
    assert (payment.invoice_id, payment.payment_method_id, payment.amount_msat) == (invoice.pk, "BTC-LNURL", 20_000 * SAT)
    assert Account.objects.get(kind="merchant", reference=store.pk).posted_msat == 20_000 * SAT
    # and once the replaced BTC-LN BOLT11's own task ran, nothing is left for the sweep to cancel
    assert tasks.invoice_prompt_node_cancel_task(*_queued(CANCEL_TASK)[0]) is True
    assert invoice_lightning_remainders_sweep() == 0


@pytest.mark.django_db(transaction=True)
def test_the_sweep_cancels_lnurl_bolt11s_on_the_merchants_own_node(api_client, merchant, nodes, lnd_network, lnd_backend):
    _owner, store, secret = merchant
    # the devnode's "external" node plays the merchant's own node
    store_setup_payment_methods(store=store, xpub=vpub(), lightning=lnd_network.connection_string("external"))
    invoice = _lnurl_invoice(api_client, store, token_header(secret))
    full = _lnurl_bolt11(api_client, invoice.pk, 20_000 * SAT)
    assert bolt11.decode(full).payee == lnd_network.nodes["external"].pubkey
    _pay_part_onchain(invoice, 5_000, "bc" * 32)
    assert invoice_lightning_remainder_refresh(invoice_id=invoice.pk) is not None

    # given the queued cancel tasks were lost: the sweep cancels the replaced BTC-LN BOLT11 and
    # the LNURL one on the merchant's node
    assert invoice_lightning_remainders_sweep() == 2
    assert lnd_backend.pay(full, fee_limit_msat=100_000, timeout=5).status == PaymentStatus.FAILED
    assert LightningInvoice.objects.get(payment_hash=bolt11.decode(full).payment_hash).status == "canceled"
    assert invoice_lightning_remainders_sweep() == 0
