"""ClnBackend against a small Core Lightning JSON-RPC server on a unix socket, written here."""
import hashlib
import json
import os
import secrets
import socketserver
import tempfile
import threading
import time

import bolt11
import pytest
from bolt11.models.tags import TagChar, Tags
from coincurve import PrivateKey

from lightning.backends import InvoiceState, PaymentStatus
from lightning.backends.cln import ClnBackend
from lightning.errors import (
    InvalidPaymentRequest,
    InvoiceNotFound,
    LightningError,
    NodeAnswerError,
    NodeUnreachable,
)


def mint(key: PrivateKey, *, amount_msat, description="", description_hash=None, payment_hash=None, expiry=3600):
    tags = Tags()
    tags.add(TagChar.payment_hash, payment_hash or secrets.token_hex(32))
    tags.add(TagChar.payment_secret, secrets.token_hex(32))
    if description_hash:
        tags.add(TagChar.description_hash, description_hash)
    else:
        tags.add(TagChar.description, description)
    tags.add(TagChar.expire_time, expiry)
    invoice = bolt11.Bolt11(
        currency="bcrt", date=int(time.time()), tags=tags,
        amount_msat=bolt11.MilliSatoshi(amount_msat) if amount_msat else None,
    )
    return bolt11.encode(invoice, private_key=key.secret.hex())


class FakeLightningd:
    """Just enough of lightningd's JSON-RPC (doc/lightning-*.7) for the adapter's calls."""

    def __init__(self, *, tcp: bool = False):
        self.key = PrivateKey()
        self.pubkey = self.key.public_key.format(compressed=True).hex()
        self.invoices: dict[str, dict] = {}
        self.pays: dict[str, dict] = {}
        self.pay_index = 0
        self.cond = threading.Condition()
        self.pay_mode = "complete"
        self.garbage: dict[str, bytes] = {}
        self.requests: list[dict] = []
        self.dir = tempfile.mkdtemp(prefix="cln-")  # short path: unix sockets have a length limit
        self.path = os.path.join(self.dir, "lightning-rpc")
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                buffer = b""
                while True:
                    chunk = self.request.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                    try:
                        request = json.loads(buffer)
                        break
                    except ValueError:
                        continue
                fake.requests.append(request)
                if request["method"] in fake.garbage:
                    self.request.sendall(fake.garbage[request["method"]])
                    return
                try:
                    body = {"result": getattr(fake, "rpc_" + request["method"])(**request["params"])}
                except RpcFail as exc:
                    body = {"error": {"code": exc.code, "message": exc.message}}
                body.update(jsonrpc="2.0", id=request["id"])
                self.request.sendall(json.dumps(body).encode() + b"\n\n")

        if tcp:  # lightningd behind a TCP forward (socat), as clightning server=tcp:// expects
            self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
            self.port = self.server.server_address[1]
        else:
            self.server = socketserver.ThreadingUnixStreamServer(self.path, Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # --- the node's side of a payment from outside ---
    def settle(self, payment_hash: str):
        with self.cond:
            invoice = self.invoices[payment_hash]
            self.pay_index += 1
            invoice.update(
                status="paid", pay_index=self.pay_index, paid_at=int(time.time()),
                amount_received_msat=invoice.get("amount_msat", 5000),
            )
            self.cond.notify_all()

    # --- JSON-RPC methods ---
    def rpc_getinfo(self):
        return {"id": self.pubkey, "alias": "fake-cln", "network": "regtest", "blockheight": 101, "version": "v25.02"}

    def rpc_invoice(self, amount_msat, label, description, expiry=3600, deschashonly=False):
        preimage = secrets.token_bytes(32)
        payment_hash = hashlib.sha256(preimage).hexdigest()
        dh = hashlib.sha256(description.encode()).hexdigest() if deschashonly else None
        amount = None if amount_msat == "any" else amount_msat
        invoice = mint(self.key, amount_msat=amount, description=description, description_hash=dh, payment_hash=payment_hash, expiry=expiry)
        record = {
            "label": label, "bolt11": invoice, "payment_hash": payment_hash, "status": "unpaid",
            "description": description, "expires_at": int(time.time()) + expiry,
            "payment_preimage": preimage.hex(), "created_at": int(time.time()),
        }
        if amount is not None:
            record["amount_msat"] = amount
        self.invoices[payment_hash] = record
        return {"payment_hash": payment_hash, "bolt11": invoice, "expires_at": record["expires_at"]}

    def _public(self, record):
        return {k: v for k, v in record.items() if record["status"] == "paid" or k != "payment_preimage"}

    def rpc_listinvoices(self, payment_hash):
        record = self.invoices.get(payment_hash)
        return {"invoices": [self._public(record)] if record else []}

    def rpc_waitanyinvoice(self, lastpay_index=0, timeout=None):
        deadline = time.monotonic() + (timeout or 3600)
        with self.cond:
            while True:
                paid = sorted(
                    (i for i in self.invoices.values() if i.get("pay_index", 0) > lastpay_index),
                    key=lambda i: i["pay_index"],
                )
                if paid:
                    return self._public(paid[0])
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RpcFail(904, "Timed out")
                self.cond.wait(left)

    def rpc_pay(self, bolt11, maxfee, retry_for, amount_msat=None):
        decoded = bolt11_decode(bolt11)
        if self.pay_mode == "fail":
            raise RpcFail(210, "Ran out of routes to try after 3 attempts")
        if self.pay_mode == "hang":
            self.pays[decoded.payment_hash] = {"status": "pending", "payment_hash": decoded.payment_hash}
            time.sleep(3)
        preimage = secrets.token_hex(32)
        record = {
            "status": "complete", "payment_hash": decoded.payment_hash, "preimage": preimage,
            "amount_msat": decoded.amount_msat, "amount_sent_msat": decoded.amount_msat + 1001,
        }
        self.pays[decoded.payment_hash] = record
        return {**record, "payment_preimage": preimage}

    def rpc_listpays(self, payment_hash):
        record = self.pays.get(payment_hash)
        return {"pays": [record] if record else []}

    def rpc_decode(self, string):
        decoded = bolt11_decode(string)
        return {"type": "bolt11 invoice", "valid": True, "payee": decoded.payee, "payment_hash": decoded.payment_hash}

    def rpc_listfunds(self):
        return {"outputs": [], "channels": [
            {"state": "CHANNELD_NORMAL", "our_amount_msat": 700_000, "amount_msat": 1_000_000},
            {"state": "ONCHAIN", "our_amount_msat": 5, "amount_msat": 10},
        ]}


class RpcFail(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def bolt11_decode(text):
    return bolt11.decode(text)


@pytest.fixture
def lightningd():
    fake = FakeLightningd()
    yield fake
    fake.close()


@pytest.fixture
def cln(lightningd):
    return ClnBackend(socket_path=lightningd.path, timeout=2)


def test_create_and_lookup_invoice(lightningd, cln):
    invoice = cln.create_invoice(amount_msat=50_000, memo="cake", expiry=600)

    assert bolt11.decode(invoice.bolt11).payee == lightningd.pubkey
    assert invoice.amount_msat == 50_000
    found = cln.lookup_invoice(invoice.payment_hash)
    assert found.state == InvoiceState.OPEN and found.preimage == ""
    lightningd.settle(invoice.payment_hash)
    found = cln.lookup_invoice(invoice.payment_hash)
    assert found.state == InvoiceState.SETTLED
    assert found.settle_index == 1
    assert found.amount_received_msat == 50_000
    assert hashlib.sha256(bytes.fromhex(found.preimage)).hexdigest() == invoice.payment_hash
    request = next(r for r in lightningd.requests if r["method"] == "invoice")
    assert request["params"]["amount_msat"] == 50_000 and request["params"]["label"].startswith("flashpay-")


def test_description_is_committed_by_hash(lightningd, cln):
    invoice = cln.create_invoice(amount_msat=1000, description='[["text/plain","hi"]]')

    assert bolt11.decode(invoice.bolt11).description_hash == hashlib.sha256(b'[["text/plain","hi"]]').hexdigest()
    with pytest.raises(LightningError, match="description text"):
        cln.create_invoice(amount_msat=1000, description_hash=b"\x00" * 32)


def test_lookup_unknown_invoice(cln):
    with pytest.raises(InvoiceNotFound):
        cln.lookup_invoice("00" * 32)


def test_stream_settled_replays_then_follows_live_and_stops(lightningd, cln):
    invoices = [cln.create_invoice(amount_msat=1000 * (i + 1)) for i in range(3)]
    lightningd.settle(invoices[0].payment_hash)
    lightningd.settle(invoices[1].payment_hash)
    stop = threading.Event()
    seen = []

    def follow():
        for invoice in cln.stream_settled(from_settle_index=1, stop_event=stop):
            seen.append(invoice)

    thread = threading.Thread(target=follow)
    thread.start()
    time.sleep(0.3)
    lightningd.settle(invoices[2].payment_hash)
    time.sleep(0.3)
    stop.set()
    thread.join(5)

    assert not thread.is_alive()
    assert [(i.payment_hash, i.settle_index) for i in seen] == [
        (invoices[1].payment_hash, 2),
        (invoices[2].payment_hash, 3),
    ]


def test_pay_success_failure_and_unknown(lightningd, cln):
    other = PrivateKey()
    ok = mint(other, amount_msat=20_000)
    result = cln.pay(ok, fee_limit_msat=2_000, timeout=2)
    assert result.status == PaymentStatus.SUCCESS
    assert result.fee_msat == 1001 and result.amount_msat == 20_000
    assert len(result.preimage) == 64
    sent = next(r for r in lightningd.requests if r["method"] == "pay")["params"]
    assert sent["maxfee"] == 2_000

    lightningd.pay_mode = "fail"
    failed = cln.pay(mint(other, amount_msat=1_000), fee_limit_msat=2_000, timeout=2)
    assert failed.status == PaymentStatus.FAILED

    lightningd.pay_mode = "hang"
    slow = mint(other, amount_msat=3_000)
    unknown = cln.pay(slow, fee_limit_msat=2_000, timeout=0.5)
    assert unknown.status == PaymentStatus.UNKNOWN
    assert cln.track_payment(bolt11.decode(slow).payment_hash).status == PaymentStatus.UNKNOWN
    resolved = cln.track_payment(bolt11.decode(slow).payment_hash, wait=5)
    assert resolved.status == PaymentStatus.SUCCESS


def test_track_never_made_payment_is_failed(cln):
    assert cln.track_payment("cd" * 32).status == PaymentStatus.FAILED


def test_decode_info_and_balance(lightningd, cln):
    text = mint(PrivateKey(), amount_msat=9_000, description="x")

    assert cln.decode(text).amount_msat == 9_000
    info = cln.node_info()
    assert (info.pubkey, info.network, info.block_height) == (lightningd.pubkey, "regtest", 101)
    balance = cln.balance()
    assert (balance.local_msat, balance.remote_msat) == (700_000, 300_000)


def test_wrong_network_invoice_is_bad_input(cln):
    tags = Tags()
    tags.add(TagChar.payment_hash, "11" * 32)
    tags.add(TagChar.payment_secret, "22" * 32)
    tags.add(TagChar.description, "x")
    mainnet = bolt11.encode(bolt11.Bolt11(currency="bc", date=int(time.time()), tags=tags), private_key=PrivateKey().secret.hex())

    with pytest.raises(InvalidPaymentRequest, match="mainnet"):
        cln.pay(mainnet, fee_limit_msat=0, timeout=1)


@pytest.mark.parametrize(
    "answer",
    [
        b"this is not json at all" + b" " * 10,
        b'{"jsonrpc":"2.0","id":999,"result":{}}',
        b'{"jsonrpc":"2.0","id":1,"result":"a string"}',
        b'{"jsonrpc":"2.0","id":1,"result":{"id":"short"}}',
        b"",
    ],
)
def test_malformed_answers_are_clear_errors(lightningd, cln, answer):
    lightningd.garbage["getinfo"] = answer

    with pytest.raises(NodeAnswerError):
        cln.node_info()


def test_malformed_invoice_amount_is_a_clear_error(lightningd, cln):
    lightningd.garbage["listinvoices"] = json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"invoices": [
        {"payment_hash": "00" * 32, "status": "paid", "amount_msat": "lots", "pay_index": 1}
    ]}}).encode()

    with pytest.raises(NodeAnswerError):
        cln.lookup_invoice("00" * 32)


def test_unreachable_socket_is_a_clear_error(tmp_path):
    backend = ClnBackend(socket_path=str(tmp_path / "missing-rpc"), timeout=1)

    with pytest.raises(NodeUnreachable):
        backend.node_info()
    with pytest.raises(NodeUnreachable):
        next(backend.stream_settled(from_settle_index=0))


def test_non_ascii_text_survives_the_socket(lightningd, cln):
    memo = "café ☕ " * 2000  # long enough to span several socket reads

    invoice = cln.create_invoice(amount_msat=1_000, memo=memo[:200])
    lightningd.invoices[invoice.payment_hash]["description"] = memo

    assert cln.lookup_invoice(invoice.payment_hash).memo == memo


def test_tcp_transport_from_a_connection_string():
    from lightning.clients import lightning_client_open

    fake = FakeLightningd(tcp=True)
    try:
        backend = lightning_client_open(connection_string=f"type=clightning;server=tcp://127.0.0.1:{fake.port}")
        invoice = backend.create_invoice(amount_msat=2_000, memo="over tcp")
        assert backend.node_info().pubkey == fake.pubkey
        assert backend.lookup_invoice(invoice.payment_hash).state == InvoiceState.OPEN
    finally:
        fake.close()
