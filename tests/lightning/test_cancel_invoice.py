"""Canceling an open invoice on the node: LND invoicesrpc.CancelInvoice (devnode) and CLN delinvoice."""
import pytest
from django.db import transaction

from lightning.backends import InvoiceState, PaymentStatus
from lightning.backends.cln import ClnBackend
from lightning.errors import InvalidPaymentRequest, InvoiceNotFound, LightningError
from lightning.services import lightning_invoice_cancel_on_node

from .test_cln_backend import FakeLightningd, RpcFail

# --- LND over gRPC against the devnode ---------------------------------------------------------


def test_lnd_canceled_invoice_cannot_be_paid_any_more(lnd_backend, lnd_external):
    invoice = lnd_backend.create_invoice(amount_msat=21_000, memo="coffee")
    assert lnd_backend.cancel_invoice(invoice.payment_hash) == InvoiceState.CANCELED
    assert lnd_backend.lookup_invoice(invoice.payment_hash).state == InvoiceState.CANCELED
    # the payee rejects the HTLC, like LND (BOLT #4 incorrect_or_unknown_payment_details)
    result = lnd_external.pay(invoice.bolt11, fee_limit_msat=1000, timeout=5)
    assert result.status == PaymentStatus.FAILED
    assert "INCORRECT_PAYMENT_DETAILS" in result.reason.upper()
    assert lnd_backend.lookup_invoice(invoice.payment_hash).amount_received_msat == 0
    # canceling again is no error
    assert lnd_backend.cancel_invoice(invoice.payment_hash) == InvoiceState.CANCELED


def test_lnd_settled_invoice_is_not_canceled(lnd_backend, lnd_external):
    invoice = lnd_backend.create_invoice(amount_msat=5_000)
    assert lnd_external.pay(invoice.bolt11, fee_limit_msat=1000, timeout=5).status == PaymentStatus.SUCCESS
    assert lnd_backend.cancel_invoice(invoice.payment_hash) == InvoiceState.SETTLED
    assert lnd_backend.lookup_invoice(invoice.payment_hash).state == InvoiceState.SETTLED


def test_lnd_cancel_of_unknown_or_malformed_hash(lnd_backend):
    with pytest.raises(InvoiceNotFound):
        lnd_backend.cancel_invoice("ab" * 32)
    with pytest.raises(InvalidPaymentRequest):
        lnd_backend.cancel_invoice("not-a-hash")


def test_lnd_cancel_survives_a_devnode_restart(lnd_network, lnd_backend, lnd_external):
    invoice = lnd_backend.create_invoice(amount_msat=7_000)
    lnd_backend.cancel_invoice(invoice.payment_hash)
    lnd_network.stop()
    from devnode.lnd import LndNetwork, node_backend

    again = LndNetwork(datadir=lnd_network.datadir, flashpay_port=0, external_port=0).start()
    try:
        backend = node_backend(again.datadir, "flashpay", timeout=5)
        external = node_backend(again.datadir, "external", timeout=5)
        assert backend.lookup_invoice(invoice.payment_hash).state == InvoiceState.CANCELED
        assert external.pay(invoice.bolt11, fee_limit_msat=1000, timeout=5).status == PaymentStatus.FAILED
        backend.close()
        external.close()
    finally:
        again.stop()


@pytest.mark.django_db(transaction=True)
def test_cancel_service_refuses_to_call_the_node_inside_a_transaction(lnd_backend):
    invoice = lnd_backend.create_invoice(amount_msat=3_000)
    with pytest.raises(RuntimeError), transaction.atomic():
        lightning_invoice_cancel_on_node(backend=lnd_backend, payment_hash=invoice.payment_hash)
    assert lnd_backend.lookup_invoice(invoice.payment_hash).state == InvoiceState.OPEN
    # outside one it cancels; a hash the node never had cannot be paid either
    assert lightning_invoice_cancel_on_node(backend=lnd_backend, payment_hash=invoice.payment_hash) == InvoiceState.CANCELED
    assert lightning_invoice_cancel_on_node(backend=lnd_backend, payment_hash="cd" * 32) == InvoiceState.CANCELED


# --- Core Lightning: delinvoice with status "unpaid" --------------------------------------------


class DelinvoiceLightningd(FakeLightningd):
    """The fake lightningd plus delinvoice (lightning-delinvoice(7)): by label, status checked."""

    pay_before_delete = False

    def rpc_delinvoice(self, label, status):
        record = next((i for i in self.invoices.values() if i["label"] == label), None)
        if record is None:
            raise RpcFail(905, "Unknown invoice")
        if self.pay_before_delete:
            self.pay_before_delete = False
            self.settle(record["payment_hash"])  # paid between our listinvoices and delinvoice
        if record["status"] != status:
            raise RpcFail(906, f"Invoice status is {record['status']} not {status}")
        del self.invoices[record["payment_hash"]]
        return self._public(record)


@pytest.fixture
def lightningd_del():
    fake = DelinvoiceLightningd()
    yield fake
    fake.close()


@pytest.fixture
def cln_del(lightningd_del):
    return ClnBackend(socket_path=lightningd_del.path, timeout=2)


def test_cln_cancel_deletes_an_unpaid_invoice(lightningd_del, cln_del):
    invoice = cln_del.create_invoice(amount_msat=9_000, memo="tea")
    assert cln_del.cancel_invoice(invoice.payment_hash) == InvoiceState.CANCELED
    deletes = [r["params"] for r in lightningd_del.requests if r["method"] == "delinvoice"]
    assert deletes == [{"label": deletes[0]["label"], "status": "unpaid"}]
    with pytest.raises(InvoiceNotFound):
        cln_del.lookup_invoice(invoice.payment_hash)
    with pytest.raises(InvoiceNotFound):
        cln_del.cancel_invoice(invoice.payment_hash)


def test_cln_paid_invoice_is_not_deleted(lightningd_del, cln_del):
    invoice = cln_del.create_invoice(amount_msat=9_000)
    lightningd_del.settle(invoice.payment_hash)
    assert cln_del.cancel_invoice(invoice.payment_hash) == InvoiceState.SETTLED
    assert not [r for r in lightningd_del.requests if r["method"] == "delinvoice"]
    assert cln_del.lookup_invoice(invoice.payment_hash).state == InvoiceState.SETTLED


def test_cln_invoice_paid_while_canceling_reports_settled(lightningd_del, cln_del):
    invoice = cln_del.create_invoice(amount_msat=9_000)
    lightningd_del.pay_before_delete = True
    assert cln_del.cancel_invoice(invoice.payment_hash) == InvoiceState.SETTLED
    assert cln_del.lookup_invoice(invoice.payment_hash).state == InvoiceState.SETTLED


def test_cln_other_errors_are_lightning_errors(lightningd_del, cln_del):
    invoice = cln_del.create_invoice(amount_msat=9_000)

    def broken(label, status):
        raise RpcFail(-1, "Database error")

    lightningd_del.rpc_delinvoice = broken
    with pytest.raises(LightningError):
        cln_del.cancel_invoice(invoice.payment_hash)
    assert cln_del.lookup_invoice(invoice.payment_hash).state == InvoiceState.OPEN
