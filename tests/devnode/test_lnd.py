"""The devnode's simulated LND network, spoken to with raw lnrpc/routerrpc gRPC stubs."""
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import bolt11
import grpc
import pytest

from devnode.lnd import LndNetwork
from lightning.protos import lightning_pb2 as ln
from lightning.protos import lightning_pb2_grpc as ln_grpc
from lightning.protos import router_pb2 as router
from lightning.protos import router_pb2_grpc as router_grpc


class Node:
    """Raw stubs on one devnode node, with its macaroon."""

    def __init__(self, network: LndNetwork, name: str, *, macaroon: bytes | None = None):
        credentials = grpc.ssl_channel_credentials(network.cert_path(name).read_bytes())
        self.channel = grpc.secure_channel(
            f"127.0.0.1:{network.nodes[name].port}", credentials,
            options=[("grpc.ssl_target_name_override", "localhost")],
        )
        self.lightning = ln_grpc.LightningStub(self.channel)
        self.router = router_grpc.RouterStub(self.channel)
        macaroon = network.macaroon_path(name).read_bytes() if macaroon is None else macaroon
        self.metadata = [("macaroon", macaroon.hex())]

    def __getattr__(self, method):
        stub = self.router if method in ("SendPaymentV2", "TrackPaymentV2") else self.lightning
        call = getattr(stub, method)
        return lambda request, **kw: call(request, metadata=self.metadata, timeout=kw.pop("timeout", 5), **kw)


@pytest.fixture
def flashpay(lnd_network):
    node = Node(lnd_network, "flashpay")
    yield node
    node.channel.close()


@pytest.fixture
def external(lnd_network):
    node = Node(lnd_network, "external")
    yield node
    node.channel.close()


def test_invoices_are_signed_regtest_bolt11_from_the_node_key(flashpay):
    info = flashpay.GetInfo(ln.GetInfoRequest())
    added = flashpay.AddInvoice(ln.Invoice(memo="signed", value_msat=1_234_000, expiry=120))

    decoded = bolt11.decode(added.payment_request)  # checks the signature

    assert added.payment_request.startswith("lnbcrt")
    assert decoded.currency == "bcrt"
    assert decoded.payee == info.identity_pubkey
    assert decoded.payment_hash == added.r_hash.hex()
    assert decoded.payment_secret == added.payment_addr.hex()
    assert decoded.amount_msat == 1_234_000
    assert decoded.expiry == 120
    assert added.add_index == 1
    assert info.chains[0].network == "regtest"


def test_files_and_identity_survive_a_restart(tmp_path):
    datadir = tmp_path / "lnd"
    with LndNetwork(datadir=datadir, flashpay_port=0) as first:
        pubkey = first.nodes["flashpay"].pubkey
        manifest = json.loads((datadir / "lnd.json").read_text())
        assert manifest["flashpay"]["port"] == first.flashpay_port
        assert manifest["external"]["port"] == first.external_port
    for name in ("flashpay", "external"):
        assert (datadir / name / "tls.cert").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
        assert oct((datadir / name / "admin.macaroon").stat().st_mode & 0o777) == "0o600"
    with LndNetwork(datadir=datadir, flashpay_port=0) as second:
        assert second.nodes["flashpay"].pubkey == pubkey


def test_every_call_needs_the_right_macaroon(lnd_network):
    for macaroon in (b"", b"\x00" * 32, lnd_network.macaroon_path("external").read_bytes()):
        node = Node(lnd_network, "flashpay", macaroon=macaroon)
        with pytest.raises(grpc.RpcError) as error:
            node.GetInfo(ln.GetInfoRequest())
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as error:
            next(node.SubscribeInvoices(ln.InvoiceSubscription()))
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
        node.channel.close()
    assert lnd_network.nodes["flashpay"].invoices == {}


def test_add_invoice_refuses_bad_input(flashpay):
    preimage = b"\x07" * 32
    flashpay.AddInvoice(ln.Invoice(value=1, r_preimage=preimage))
    cases = [
        (ln.Invoice(value=1, value_msat=1000), grpc.StatusCode.INVALID_ARGUMENT),
        (ln.Invoice(value=1, description_hash=b"short"), grpc.StatusCode.INVALID_ARGUMENT),
        (ln.Invoice(value=-1), grpc.StatusCode.INVALID_ARGUMENT),
        (ln.Invoice(memo="m" * 640), grpc.StatusCode.INVALID_ARGUMENT),
        (ln.Invoice(value=1, r_preimage=preimage), grpc.StatusCode.ALREADY_EXISTS),
    ]
    for request, code in cases:
        with pytest.raises(grpc.RpcError) as error:
            flashpay.AddInvoice(request)
        assert error.value.code() == code


def test_subscribe_streams_adds_and_settles_with_increasing_indexes(lnd_network, flashpay, external):
    stream = flashpay.SubscribeInvoices(ln.InvoiceSubscription(), timeout=10)
    updates = []

    def read():
        try:
            for update in stream:
                updates.append(update)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.CANCELLED

    reader = threading.Thread(target=read)
    reader.start()
    assert lnd_network.wait_subscribers(count=1)

    first = flashpay.AddInvoice(ln.Invoice(value_msat=10_000))
    second = flashpay.AddInvoice(ln.Invoice(value_msat=20_000))
    for added in (second, first):
        answer = external.SendPaymentSync(ln.SendRequest(payment_request=added.payment_request))
        assert answer.payment_error == ""
        assert hashlib.sha256(answer.payment_preimage).digest() == added.r_hash
    deadline = time.monotonic() + 5
    while len(updates) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    stream.cancel()
    reader.join(5)

    states = [(u.r_hash, u.state, u.add_index, u.settle_index) for u in updates]
    assert states == [
        (first.r_hash, ln.Invoice.OPEN, 1, 0),
        (second.r_hash, ln.Invoice.OPEN, 2, 0),
        (second.r_hash, ln.Invoice.SETTLED, 2, 1),
        (first.r_hash, ln.Invoice.SETTLED, 1, 2),
    ]


def test_payment_outcomes_follow_lnd(lnd_network, flashpay, external):
    invoice = external.AddInvoice(ln.Invoice(value_msat=50_000))
    total = sum(n.local_msat for n in lnd_network.nodes.values())

    # routerrpc refuses a payment without timeout
    with pytest.raises(grpc.RpcError) as error:
        next(flashpay.SendPaymentV2(router.SendPaymentRequest(payment_request=invoice.payment_request)))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    updates = list(flashpay.SendPaymentV2(router.SendPaymentRequest(
        payment_request=invoice.payment_request, timeout_seconds=5, fee_limit_msat=10_000,
    )))
    assert [u.status for u in updates] == [ln.Payment.IN_FLIGHT, ln.Payment.SUCCEEDED]
    assert updates[-1].fee_msat == lnd_network.fee_for(50_000)

    # paying again: LND's "already paid"
    with pytest.raises(grpc.RpcError) as error:
        next(flashpay.SendPaymentV2(router.SendPaymentRequest(payment_request=invoice.payment_request, timeout_seconds=5, fee_limit_msat=10_000)))
    assert error.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "already paid" in error.value.details()

    # more than the channel holds
    big = external.AddInvoice(ln.Invoice(value_msat=lnd_network.nodes["flashpay"].local_msat + 1))
    final = list(flashpay.SendPaymentV2(router.SendPaymentRequest(payment_request=big.payment_request, timeout_seconds=5, fee_limit_msat=10**9)))[-1]
    assert final.status == ln.Payment.FAILED
    assert final.failure_reason == ln.FAILURE_REASON_INSUFFICIENT_BALANCE

    # no money is made or lost: fees stay in the network
    assert sum(n.local_msat for n in lnd_network.nodes.values()) == total

    # track reports the final state and NOT_FOUND for a payment never started
    tracked = list(flashpay.TrackPaymentV2(router.TrackPaymentRequest(payment_hash=invoice.r_hash)))
    assert tracked[-1].status == ln.Payment.SUCCEEDED
    with pytest.raises(grpc.RpcError) as error:
        next(flashpay.TrackPaymentV2(router.TrackPaymentRequest(payment_hash=b"\x01" * 32)))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_send_payment_sync_reports_errors_in_payment_error(lnd_network, flashpay, external):
    invoice = flashpay.AddInvoice(ln.Invoice(value_msat=1_000))
    lnd_network.inject(payer="external", fail=True, reason="FAILURE_REASON_NO_ROUTE")

    failed = external.SendPaymentSync(ln.SendRequest(payment_request=invoice.payment_request))
    ok = external.SendPaymentSync(ln.SendRequest(payment_request=invoice.payment_request))
    again = external.SendPaymentSync(ln.SendRequest(payment_request=invoice.payment_request))

    assert failed.payment_error == "FAILURE_REASON_NO_ROUTE"
    assert ok.payment_error == "" and len(ok.payment_preimage) == 32
    assert again.payment_error == "invoice is already paid"


def test_decode_pay_req(flashpay, external):
    added = external.AddInvoice(ln.Invoice(memo="decode", value_msat=3_000_000, expiry=300))

    decoded = flashpay.DecodePayReq(ln.PayReqString(pay_req=added.payment_request))

    assert decoded.payment_hash == added.r_hash.hex()
    assert decoded.num_satoshis == 3_000 and decoded.num_msat == 3_000_000
    assert decoded.description == "decode" and decoded.expiry == 300
    assert decoded.destination == external.GetInfo(ln.GetInfoRequest()).identity_pubkey
    with pytest.raises(grpc.RpcError) as error:
        flashpay.DecodePayReq(ln.PayReqString(pay_req="lnbcrt1nonsense"))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_pay_from_another_process_like_devnode_pay(lnd_network, flashpay):
    added = flashpay.AddInvoice(ln.Invoice(value_msat=8_000, memo="from the CLI"))
    script = (
        "import sys; from devnode.lnd import pay_from_external; "
        "r = pay_from_external(sys.argv[1], datadir=sys.argv[2]); print(r.status, r.preimage)"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "flashpay.settings", "PYTHONPATH": str(root)}

    done = subprocess.run(
        [sys.executable, "-c", script, added.payment_request, str(lnd_network.datadir)],
        capture_output=True, text=True, timeout=60, env=env, cwd=root,
    )

    assert done.returncode == 0, done.stderr
    status, preimage = done.stdout.split()
    assert status == "success"
    assert hashlib.sha256(bytes.fromhex(preimage)).digest() == added.r_hash
    assert flashpay.LookupInvoice(ln.PaymentHash(r_hash=added.r_hash)).state == ln.Invoice.SETTLED


def test_a_restart_keeps_invoices_indexes_and_balances_and_fails_payments_in_flight(tmp_path):
    datadir = tmp_path / "lnd"
    with LndNetwork(datadir=datadir, flashpay_port=0) as first:
        flashpay, external = Node(first, "flashpay"), Node(first, "external")
        paid = flashpay.AddInvoice(ln.Invoice(value_msat=70_000))
        external.SendPaymentSync(ln.SendRequest(payment_request=paid.payment_request))
        hanging = external.AddInvoice(ln.Invoice(value_msat=9_000))
        first.inject(payment_hash=hanging.r_hash.hex(), delay=30)
        started = next(flashpay.SendPaymentV2(router.SendPaymentRequest(
            payment_request=hanging.payment_request, timeout_seconds=5, fee_limit_msat=10_000,
        )))
        assert started.status == ln.Payment.IN_FLIGHT
        balances_before_hang = {"flashpay": 5_000_000_000 + 70_000, "external": 5_000_000_000 - 70_000}
        flashpay.channel.close()
        external.channel.close()

    with LndNetwork(datadir=datadir, flashpay_port=0) as second:
        flashpay = Node(second, "flashpay")
        settled = flashpay.LookupInvoice(ln.PaymentHash(r_hash=paid.r_hash))
        assert (settled.state, settled.settle_index, settled.amt_paid_msat) == (ln.Invoice.SETTLED, 1, 70_000)
        assert {n: node.local_msat for n, node in second.nodes.items()} == balances_before_hang
        tracked = list(flashpay.TrackPaymentV2(router.TrackPaymentRequest(payment_hash=hanging.r_hash)))
        assert tracked[-1].status == ln.Payment.FAILED
        assert flashpay.AddInvoice(ln.Invoice(value_msat=1)).add_index == 2
        replay = flashpay.SubscribeInvoices(ln.InvoiceSubscription(settle_index=0, add_index=1), timeout=2)
        assert next(replay).add_index == 2
        replay.cancel()
        flashpay.channel.close()


def test_the_node_refuses_invoices_of_other_networks(lnd_network, flashpay, external):
    from bolt11.models.tags import TagChar, Tags

    tags = Tags()
    tags.add(TagChar.payment_hash, "11" * 32)
    tags.add(TagChar.payment_secret, "22" * 32)
    tags.add(TagChar.description, "mainnet")
    mainnet = bolt11.encode(
        bolt11.Bolt11(currency="bc", date=int(time.time()), tags=tags, amount_msat=bolt11.MilliSatoshi(1000)),
        private_key=lnd_network.nodes["external"].key.secret.hex(),
    )

    for call in (
        lambda: flashpay.DecodePayReq(ln.PayReqString(pay_req=mainnet)),
        lambda: next(flashpay.SendPaymentV2(router.SendPaymentRequest(payment_request=mainnet, timeout_seconds=5))),
        lambda: flashpay.SendPaymentSync(ln.SendRequest(payment_request=mainnet)),
    ):
        with pytest.raises(grpc.RpcError) as error:
            call()
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "mainnet" in error.value.details()
    assert lnd_network.nodes["flashpay"].payments == {}


def test_an_expired_open_invoice_reads_as_canceled_like_lnd(flashpay):
    added = flashpay.AddInvoice(ln.Invoice(value_msat=1_000, expiry=1))
    assert flashpay.LookupInvoice(ln.PaymentHash(r_hash=added.r_hash)).state == ln.Invoice.OPEN

    time.sleep(1.1)

    assert flashpay.LookupInvoice(ln.PaymentHash(r_hash=added.r_hash)).state == ln.Invoice.CANCELED
