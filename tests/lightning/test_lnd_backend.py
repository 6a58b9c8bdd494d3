"""LndBackend against the devnode's LND over real gRPC with TLS and a macaroon."""
import hashlib
import ssl
import threading
import time
from concurrent import futures

import bolt11
import grpc
import pytest
from bolt11.models.tags import TagChar, Tags
from coincurve import PrivateKey

from lightning.backends import InvoiceState, PaymentStatus
from lightning.backends.lnd import LndBackend
from lightning.errors import (
    InvalidPaymentRequest,
    InvoiceNotFound,
    NodeAnswerError,
    NodeAuthError,
    NodeTLSError,
    NodeUnreachable,
)


def _preimage_matches(preimage: str, payment_hash: str) -> bool:
    return hashlib.sha256(bytes.fromhex(preimage)).hexdigest() == payment_hash


def test_create_invoice_mints_a_signed_regtest_bolt11(lnd_network, lnd_backend):
    invoice = lnd_backend.create_invoice(amount_msat=150_000, memo="coffee", expiry=900)

    decoded = bolt11.decode(invoice.bolt11)  # verifies the signature, recovering the payee
    assert invoice.bolt11.startswith("lnbcrt1500n1")
    assert decoded.is_regtest()
    assert decoded.payee == lnd_network.nodes["flashpay"].pubkey
    assert decoded.payment_hash == invoice.payment_hash
    assert decoded.amount_msat == 150_000
    assert decoded.description == "coffee"
    assert decoded.expiry == 900
    assert invoice.state == InvoiceState.OPEN


def test_create_invoice_with_description_commits_to_its_hash(lnd_backend):
    metadata = '[["text/plain","LNURL pay to Alice"]]'

    invoice = lnd_backend.create_invoice(amount_msat=1000, description=metadata)

    decoded = bolt11.decode(invoice.bolt11)
    assert decoded.description_hash == hashlib.sha256(metadata.encode()).hexdigest()
    assert decoded.description is None


def test_lookup_invoice_open_then_settled(lnd_backend, lnd_external):
    invoice = lnd_backend.create_invoice(amount_msat=21_000, memo="tip")
    assert lnd_backend.lookup_invoice(invoice.payment_hash).state == InvoiceState.OPEN

    paid = lnd_external.pay(invoice.bolt11, fee_limit_msat=0, timeout=5)

    found = lnd_backend.lookup_invoice(invoice.payment_hash)
    assert paid.status == PaymentStatus.SUCCESS
    assert found.state == InvoiceState.SETTLED
    assert found.amount_received_msat == 21_000
    assert found.settle_index == 1
    assert found.preimage == paid.preimage
    assert _preimage_matches(found.preimage, invoice.payment_hash)


def test_lookup_unknown_invoice_is_not_found(lnd_backend):
    with pytest.raises(InvoiceNotFound):
        lnd_backend.lookup_invoice("00" * 32)
    with pytest.raises(InvalidPaymentRequest):
        lnd_backend.lookup_invoice("not-hex")


def test_external_payment_is_streamed_at_once(lnd_network, lnd_backend, lnd_external):
    invoice = lnd_backend.create_invoice(amount_msat=5_000, memo="stream me")
    stop = threading.Event()
    received = []

    def follow():
        for settled in lnd_backend.stream_settled(from_settle_index=0, stop_event=stop):
            received.append((settled, time.monotonic()))

    thread = threading.Thread(target=follow)
    thread.start()
    assert lnd_network.wait_subscribers(count=1)

    lnd_external.pay(invoice.bolt11, fee_limit_msat=0, timeout=5)
    paid_at = time.monotonic()
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(5)

    assert not thread.is_alive()
    assert len(received) == 1
    settled, seen_at = received[0]
    assert settled.payment_hash == invoice.payment_hash
    assert settled.state == InvoiceState.SETTLED
    assert settled.settle_index == 1
    assert seen_at - paid_at < 0.3  # pushed, not polled


def test_stream_replays_settlements_after_the_given_index(lnd_backend, lnd_external):
    invoices = [lnd_backend.create_invoice(amount_msat=1000 + i, memo=f"n{i}") for i in range(3)]
    for invoice in invoices:
        lnd_external.pay(invoice.bolt11, fee_limit_msat=0, timeout=5)
    stop = threading.Event()

    stream = lnd_backend.stream_settled(from_settle_index=1, stop_event=stop)
    replayed = [next(stream), next(stream)]
    stop.set()
    remaining = list(stream)

    assert [i.settle_index for i in replayed] == [2, 3]
    assert [i.payment_hash for i in replayed] == [invoices[1].payment_hash, invoices[2].payment_hash]
    assert remaining == []


def test_pay_external_invoice_succeeds_with_preimage_and_fee(lnd_network, lnd_backend, lnd_external):
    before = lnd_backend.balance()
    invoice = lnd_external.create_invoice(amount_msat=100_000, memo="groceries")

    result = lnd_backend.pay(invoice.bolt11, fee_limit_msat=5_000, timeout=5)

    expected_fee = lnd_network.fee_for(100_000)
    assert result.status == PaymentStatus.SUCCESS
    assert _preimage_matches(result.preimage, invoice.payment_hash)
    assert result.fee_msat == expected_fee
    assert result.amount_msat == 100_000
    assert lnd_external.lookup_invoice(invoice.payment_hash).state == InvoiceState.SETTLED
    after = lnd_backend.balance()
    assert after.local_msat == before.local_msat - 100_000 - expected_fee
    assert after.remote_msat == before.remote_msat + 100_000 + expected_fee
    tracked = lnd_backend.track_payment(invoice.payment_hash)
    assert tracked.status == PaymentStatus.SUCCESS and tracked.preimage == result.preimage


def test_paying_twice_returns_the_first_success_and_moves_money_once(lnd_backend, lnd_external):
    invoice = lnd_external.create_invoice(amount_msat=10_000, memo="once")
    first = lnd_backend.pay(invoice.bolt11, fee_limit_msat=5_000, timeout=5)
    balance = lnd_backend.balance()

    second = lnd_backend.pay(invoice.bolt11, fee_limit_msat=5_000, timeout=5)

    assert second.status == PaymentStatus.SUCCESS
    assert second.preimage == first.preimage
    assert lnd_backend.balance() == balance


def test_fee_limit_below_the_route_fee_fails_without_moving_money(lnd_backend, lnd_external):
    invoice = lnd_external.create_invoice(amount_msat=100_000, memo="too dear")
    balance = lnd_backend.balance()

    result = lnd_backend.pay(invoice.bolt11, fee_limit_msat=10, timeout=5)

    assert result.status == PaymentStatus.FAILED
    assert result.reason == "FAILURE_REASON_NO_ROUTE"
    assert lnd_backend.balance() == balance
    assert lnd_external.lookup_invoice(invoice.payment_hash).state == InvoiceState.OPEN


def test_self_payment_is_refused(lnd_backend):
    invoice = lnd_backend.create_invoice(amount_msat=1_000, memo="me")

    result = lnd_backend.pay(invoice.bolt11, fee_limit_msat=5_000, timeout=5)

    assert result.status == PaymentStatus.FAILED
    assert lnd_backend.lookup_invoice(invoice.payment_hash).state == InvoiceState.OPEN


def test_expired_invoice_fails(lnd_backend, lnd_external):
    invoice = lnd_external.create_invoice(amount_msat=1_000, memo="late", expiry=1)
    time.sleep(1.1)

    result = lnd_backend.pay(invoice.bolt11, fee_limit_msat=5_000, timeout=5)

    assert result.status == PaymentStatus.FAILED
    assert "expired" in result.reason


def test_unknown_destination_fails_with_no_route(lnd_backend):
    result = lnd_backend.pay(_foreign_invoice(), fee_limit_msat=5_000, timeout=5)

    assert result.status == PaymentStatus.FAILED
    assert result.reason == "FAILURE_REASON_NO_ROUTE"


def _foreign_invoice(*, currency: str = "bcrt") -> str:
    """An invoice signed by a node outside the simulated network."""
    tags = Tags()
    tags.add(TagChar.payment_hash, "11" * 32)
    tags.add(TagChar.payment_secret, "22" * 32)
    tags.add(TagChar.description, "elsewhere")
    invoice = bolt11.Bolt11(currency=currency, date=int(time.time()), tags=tags, amount_msat=bolt11.MilliSatoshi(5000))
    return bolt11.encode(invoice, private_key=PrivateKey().secret.hex())


def test_mainnet_or_garbage_invoice_is_refused_as_bad_input(lnd_backend):
    with pytest.raises(InvalidPaymentRequest, match="mainnet"):
        lnd_backend.pay(_foreign_invoice(currency="bc"), fee_limit_msat=0, timeout=5)
    with pytest.raises(InvalidPaymentRequest):
        lnd_backend.pay("lnbcrt1garbage", fee_limit_msat=0, timeout=5)
    with pytest.raises(InvalidPaymentRequest):
        lnd_backend.decode("")


def test_injected_failure_fails_and_refunds(lnd_network, lnd_backend, lnd_external):
    invoice = lnd_external.create_invoice(amount_msat=30_000, memo="doomed")
    lnd_network.inject(payment_hash=invoice.payment_hash, fail=True, reason="FAILURE_REASON_TIMEOUT")
    balance = lnd_backend.balance()

    result = lnd_backend.pay(invoice.bolt11, fee_limit_msat=5_000, timeout=5)

    assert result.status == PaymentStatus.FAILED
    assert result.reason == "FAILURE_REASON_TIMEOUT"
    assert lnd_backend.balance() == balance
    assert lnd_external.lookup_invoice(invoice.payment_hash).state == InvoiceState.OPEN


def test_injected_hang_is_unknown_within_the_timeout_then_tracked_to_success(lnd_network, lnd_backend, lnd_external):
    invoice = lnd_external.create_invoice(amount_msat=40_000, memo="slow")
    lnd_network.inject(payer="flashpay", delay=3.0)

    started = time.monotonic()
    result = lnd_backend.pay(invoice.bolt11, fee_limit_msat=5_000, timeout=1.0)
    took = time.monotonic() - started

    assert result.status == PaymentStatus.UNKNOWN
    assert took < 2.5  # the caller's timeout, not the node's 3 s
    assert lnd_backend.track_payment(invoice.payment_hash).status == PaymentStatus.UNKNOWN
    assert lnd_backend.balance().pending_local_msat > 0
    resolved = lnd_backend.track_payment(invoice.payment_hash, wait=5)
    assert resolved.status == PaymentStatus.SUCCESS
    assert _preimage_matches(resolved.preimage, invoice.payment_hash)


def test_injected_hang_then_failure_is_tracked_to_failed(lnd_network, lnd_backend, lnd_external):
    invoice = lnd_external.create_invoice(amount_msat=40_000, memo="slow fail")
    lnd_network.inject(payment_hash=invoice.payment_hash, delay=1.0, fail=True)

    result = lnd_backend.pay(invoice.bolt11, fee_limit_msat=5_000, timeout=0.5)
    resolved = lnd_backend.track_payment(invoice.payment_hash, wait=5)

    assert result.status == PaymentStatus.UNKNOWN
    assert resolved.status == PaymentStatus.FAILED
    assert resolved.reason == "FAILURE_REASON_NO_ROUTE"


def test_track_of_a_payment_never_made_is_failed(lnd_backend):
    assert lnd_backend.track_payment("ab" * 32).status == PaymentStatus.FAILED


def test_decode_node_info_and_balance(lnd_network, lnd_backend, lnd_external):
    invoice = lnd_external.create_invoice(amount_msat=2_500, memo="decode me", expiry=60)

    decoded = lnd_backend.decode(invoice.bolt11)
    info = lnd_backend.node_info()
    balance = lnd_backend.balance()

    assert decoded.payment_hash == invoice.payment_hash
    assert decoded.amount_msat == 2_500
    assert decoded.payee == lnd_network.nodes["external"].pubkey
    assert decoded.description == "decode me"
    assert decoded.expiry == 60
    assert info.pubkey == lnd_network.nodes["flashpay"].pubkey
    assert info.network == "regtest"
    assert balance.local_msat == lnd_network.nodes["flashpay"].local_msat
    assert balance.remote_msat == lnd_network.nodes["external"].local_msat


def test_wrong_macaroon_is_a_clear_auth_error(lnd_network):
    backend = LndBackend(
        server=f"127.0.0.1:{lnd_network.flashpay_port}",
        macaroon=b"\x01" * 32,
        cert_pem=lnd_network.cert_path("flashpay").read_bytes(),
        timeout=5,
    )
    with pytest.raises(NodeAuthError, match="macaroon"):
        backend.node_info()
    with pytest.raises(NodeAuthError):
        backend.create_invoice(amount_msat=1000)
    # The external node's macaroon does not open the flashpay node either.
    other = LndBackend(
        server=f"127.0.0.1:{lnd_network.flashpay_port}",
        macaroon=lnd_network.macaroon_path("external").read_bytes(),
        cert_pem=lnd_network.cert_path("flashpay").read_bytes(),
        timeout=5,
    )
    with pytest.raises(NodeAuthError):
        list(other.stream_settled(from_settle_index=0, stop_event=threading.Event()))


def test_wrong_certificate_is_a_tls_error(lnd_network):
    backend = LndBackend(
        server=f"127.0.0.1:{lnd_network.flashpay_port}",
        macaroon=lnd_network.macaroon_path("flashpay").read_bytes(),
        cert_pem=lnd_network.cert_path("external").read_bytes(),  # another node's self-signed cert
        timeout=3,
    )
    with pytest.raises(NodeTLSError):
        backend.node_info()


def test_certificate_thumbprint_pins_the_node(lnd_network):
    der = ssl.PEM_cert_to_DER_cert(lnd_network.cert_path("flashpay").read_text())
    good = LndBackend(
        server=f"127.0.0.1:{lnd_network.flashpay_port}",
        macaroon=lnd_network.macaroon_path("flashpay").read_bytes(),
        cert_thumbprint=hashlib.sha256(der).hexdigest(),
        timeout=3,
    )
    bad = LndBackend(
        server=f"127.0.0.1:{lnd_network.flashpay_port}",
        macaroon=lnd_network.macaroon_path("flashpay").read_bytes(),
        cert_thumbprint="00" * 32,
        timeout=3,
    )
    assert good.node_info().pubkey == lnd_network.nodes["flashpay"].pubkey
    with pytest.raises(NodeTLSError):
        bad.node_info()


def test_unreachable_node_is_a_clear_error(lnd_network, tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free_port = sock.getsockname()[1]
    backend = LndBackend(
        server=f"127.0.0.1:{free_port}",
        macaroon=b"\x00" * 32,
        cert_pem=lnd_network.cert_path("flashpay").read_bytes(),
        timeout=2,
    )
    with pytest.raises(NodeUnreachable):
        backend.node_info()
    with pytest.raises(NodeUnreachable):
        list(backend.stream_settled(from_settle_index=0))


def test_malformed_answers_are_clear_errors(lnd_network):
    # A TLS gRPC server that answers GetInfo with bytes that are no GetInfoResponse, and
    # AddInvoice with a well-formed but empty message (no hash, no payment request).
    handler = grpc.method_handlers_generic_handler(
        "lnrpc.Lightning",
        {
            "GetInfo": grpc.unary_unary_rpc_method_handler(lambda request, context: b"\xff\xff\xff\xff"),
            "AddInvoice": grpc.unary_unary_rpc_method_handler(lambda request, context: b""),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    key = (lnd_network.node_dir("flashpay") / "tls.key").read_bytes()
    cert = lnd_network.cert_path("flashpay").read_bytes()
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
    server.start()
    try:
        backend = LndBackend(server=f"127.0.0.1:{port}", macaroon=b"\x00" * 32, cert_pem=cert, timeout=3)
        with pytest.raises(NodeAnswerError):
            backend.node_info()
        with pytest.raises(NodeAnswerError):
            backend.create_invoice(amount_msat=1000)
    finally:
        server.stop(0)
