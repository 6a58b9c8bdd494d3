"""Devnode LND: a simulated two-node Lightning network served over LND's gRPC (TLS + macaroon).

Development and tests only. Node "flashpay" is the node FlashPay uses; node "external" stands for the
rest of the network. Both mint real signed regtest BOLT11 invoices (BOLT #11) with their own
secp256k1 key, pay each other's invoices over one simulated channel, and speak the subset of
lnrpc/routerrpc in lightning/protos. Node keys, TLS certificates, macaroons, lnd.json (how other
processes reach the nodes) and a journal of invoices, payments and balances live in the datadir, so
a restart keeps its state. Failures and slow payments can be injected per payment hash or for the
next payment (`LndNetwork.inject`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import inspect
import ipaddress
import json
import logging
import secrets
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from coincurve import PrivateKey
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devnode.bolt11 import encode_invoice
from lightning.bolt11_helpers import decode_bolt11
from lightning.errors import InvalidPaymentRequest
from lightning.protos import invoices_pb2 as inv
from lightning.protos import invoices_pb2_grpc as inv_grpc
from lightning.protos import lightning_pb2 as ln
from lightning.protos import lightning_pb2_grpc as ln_grpc
from lightning.protos import router_pb2_grpc as router_grpc

logger = logging.getLogger(__name__)

NETWORK = "regtest"
DEFAULT_EXPIRY = 86400  # LND's default invoice expiry when none is given
DEFAULT_CLTV = 80
MAX_MEMO_BYTES = 639  # BOLT #11: a tagged field holds at most 1023 5-bit words
VERSION = "0.18.0-beta flashpay-devnode"
NODE_NAMES = ("flashpay", "external")

Status = ln.Payment.PaymentStatus
Reason = ln.PaymentFailureReason


class Refused(Exception):
    """An RPC error to return to the caller with a gRPC status code."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Rule:
    """An injected outcome: wait `delay` seconds in flight, then fail with `reason` or go on."""

    fail: bool = False
    reason: str = "FAILURE_REASON_NO_ROUTE"
    delay: float = 0.0


@dataclass
class SimInvoice:
    payment_hash: bytes
    preimage: bytes
    payment_addr: bytes
    bolt11: str
    value_msat: int
    memo: str
    description_hash: bytes
    creation_date: int
    expiry: int
    add_index: int
    settle_index: int = 0
    state: int = ln.Invoice.OPEN
    settle_date: int = 0
    amt_paid_msat: int = 0

    @property
    def current_state(self) -> int:
        """LND cancels an open invoice once it expires; here that happens when anyone looks."""
        if self.state == ln.Invoice.OPEN and time.time() >= self.creation_date + self.expiry:
            return ln.Invoice.CANCELED
        return self.state

    def to_proto(self) -> ln.Invoice:
        settled = self.state == ln.Invoice.SETTLED
        return ln.Invoice(
            memo=self.memo,
            r_preimage=self.preimage,
            r_hash=self.payment_hash,
            value=self.value_msat // 1000,
            value_msat=self.value_msat,
            settled=settled,
            creation_date=self.creation_date,
            settle_date=self.settle_date,
            payment_request=self.bolt11,
            description_hash=self.description_hash,
            expiry=self.expiry,
            cltv_expiry=DEFAULT_CLTV,
            add_index=self.add_index,
            settle_index=self.settle_index,
            amt_paid_sat=self.amt_paid_msat // 1000,
            amt_paid_msat=self.amt_paid_msat,
            state=self.current_state,
            payment_addr=self.payment_addr,
        )


@dataclass
class SimPayment:
    payment_hash: str
    bolt11: str
    value_msat: int
    fee_msat: int
    payee: str
    payment_index: int
    creation_time_ns: int
    status: int = Status.IN_FLIGHT
    preimage: str = ""
    failure_reason: int = Reason.FAILURE_REASON_NONE

    @property
    def final(self) -> bool:
        return self.status in (Status.SUCCEEDED, Status.FAILED)

    def to_proto(self) -> ln.Payment:
        return ln.Payment(
            payment_hash=self.payment_hash,
            payment_preimage=self.preimage or "0" * 64,
            value_sat=self.value_msat // 1000,
            value_msat=self.value_msat,
            payment_request=self.bolt11,
            status=self.status,
            fee_sat=self.fee_msat // 1000 if self.status == Status.SUCCEEDED else 0,
            fee_msat=self.fee_msat if self.status == Status.SUCCEEDED else 0,
            creation_time_ns=self.creation_time_ns,
            payment_index=self.payment_index,
            failure_reason=self.failure_reason,
        )


@dataclass
class SimNode:
    name: str
    key: PrivateKey
    local_msat: int
    port: int = 0
    invoices: dict[bytes, SimInvoice] = field(default_factory=dict)
    payments: dict[str, SimPayment] = field(default_factory=dict)
    add_index: int = 0
    settle_index: int = 0
    payment_index: int = 0
    # Invoice events in order, ("add" | "settle", payment hash): SubscribeInvoices follows it.
    events: list[tuple[str, bytes]] = field(default_factory=list)
    subscribers: int = 0
    macaroon: bytes = b""
    server: grpc.Server | None = None

    @property
    def pubkey(self) -> str:
        return self.key.public_key.format(compressed=True).hex()


class LndNetwork:
    """Two simulated LND nodes with one channel between them, each on its own gRPC port."""

    def __init__(
        self,
        *,
        datadir: str | Path,
        host: str = "127.0.0.1",
        flashpay_port: int = 10009,
        external_port: int = 0,
        flashpay_local_msat: int = 5_000_000_000,
        external_local_msat: int = 5_000_000_000,
        fee_base_msat: int = 1000,
        fee_ppm: int = 1000,
        block_height=None,
        persist: bool = True,
    ):
        self.datadir = Path(datadir)
        self.host = host
        self.fee_base_msat = fee_base_msat
        self.fee_ppm = fee_ppm
        self._block_height = block_height or (lambda: 0)
        self._cond = threading.Condition()
        self._rules_by_hash: dict[str, Rule] = {}
        self._rules_next: dict[str, list[Rule]] = {name: [] for name in NODE_NAMES}
        self._timers: list[threading.Timer] = []
        self._stopped = threading.Event()
        self.nodes = {
            "flashpay": SimNode("flashpay", self._node_key("flashpay"), flashpay_local_msat, flashpay_port),
            "external": SimNode("external", self._node_key("external"), external_local_msat, external_port),
        }
        self._journal = None
        if persist:
            self._replay_journal()
            self._journal = self.journal_path.open("a", encoding="utf-8")

    # --- persistence: an append-only journal, so a restart keeps invoices, indexes and balances ---
    @property
    def journal_path(self) -> Path:
        return self.datadir / "lnd-state.jsonl"

    def _persist(
        self,
        *,
        invoice_node: SimNode | None = None,
        invoice: SimInvoice | None = None,
        payment_node: SimNode | None = None,
        payment: SimPayment | None = None,
    ) -> None:
        """Append one line with the changed invoice/payment and every node's counters and balance.

        Called with the lock held, after the in-memory change. Replaying the lines in order
        rebuilds the state (the last line's counters and balances win).
        """
        if self._journal is None:
            return
        line: dict = {
            "nodes": {
                n.name: [n.local_msat, n.add_index, n.settle_index, n.payment_index] for n in self.nodes.values()
            },
        }
        if invoice is not None:
            line["invoice_node"] = invoice_node.name
            line["invoice"] = {
                k: (v.hex() if isinstance(v, bytes) else v) for k, v in invoice.__dict__.items()
            }
        if payment is not None:
            line["payment_node"] = payment_node.name
            line["payment"] = dict(payment.__dict__)
        self._journal.write(json.dumps(line, separators=(",", ":")) + "\n")
        self._journal.flush()

    def _replay_journal(self) -> None:
        if not self.journal_path.exists():
            return
        with self.journal_path.open(encoding="utf-8") as journal:
            for raw in journal:
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue  # a line cut short by a crash: everything before it holds
                if "invoice" in line:
                    data = line["invoice"]
                    for key in ("payment_hash", "preimage", "payment_addr", "description_hash"):
                        data[key] = bytes.fromhex(data[key])
                    self.nodes[line["invoice_node"]].invoices[data["payment_hash"]] = SimInvoice(**data)
                if "payment" in line:
                    self.nodes[line["payment_node"]].payments[line["payment"]["payment_hash"]] = SimPayment(**line["payment"])
                for name, (local, add_index, settle_index, payment_index) in line["nodes"].items():
                    other = self.nodes[name]
                    other.local_msat, other.add_index = local, add_index
                    other.settle_index, other.payment_index = settle_index, payment_index
        # A payment in flight when the devnode stopped cannot complete any more: fail it and give
        # the locked amount back, as LND does when an HTLC times out.
        self._journal = self.journal_path.open("a", encoding="utf-8")
        for payer in self.nodes.values():
            for payment in payer.payments.values():
                if payment.status == Status.IN_FLIGHT:
                    payer.local_msat += payment.value_msat + payment.fee_msat
                    payment.status = Status.FAILED
                    payment.failure_reason = Reason.FAILURE_REASON_TIMEOUT
                    self._persist(payment_node=payer, payment=payment)
        self._journal.close()

    # --- files in the datadir ---------------------------------------------------------------
    def node_dir(self, name: str) -> Path:
        return self.datadir / name

    def cert_path(self, name: str = "flashpay") -> Path:
        return self.node_dir(name) / "tls.cert"

    def macaroon_path(self, name: str = "flashpay") -> Path:
        return self.node_dir(name) / "admin.macaroon"

    @property
    def flashpay_port(self) -> int:
        return self.nodes["flashpay"].port

    @property
    def external_port(self) -> int:
        return self.nodes["external"].port

    def connection_string(self, name: str = "flashpay") -> str:
        """The BTCPay-style connection string of a node, for LIGHTNING_CONNECTION_STRING."""
        return (
            f"type=lnd-grpc;server={self.host}:{self.nodes[name].port};"
            f"macaroonfilepath={self.macaroon_path(name)};certpath={self.cert_path(name)}"
        )

    def _node_key(self, name: str) -> PrivateKey:
        path = self.node_dir(name) / "node.key"
        if path.exists():
            return PrivateKey(bytes.fromhex(path.read_text().strip()))
        path.parent.mkdir(parents=True, exist_ok=True)
        key = PrivateKey()
        path.write_text(key.secret.hex())
        path.chmod(0o600)
        return key

    def _tls_files(self, name: str) -> tuple[bytes, bytes]:
        """A self-signed certificate like LND's tls.cert, reused across restarts."""
        cert_path, key_path = self.cert_path(name), self.node_dir(name) / "tls.key"
        if cert_path.exists() and key_path.exists():
            return cert_path.read_bytes(), key_path.read_bytes()
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "flashpay devnode"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"devnode-{name}"),
        ])
        alt_names: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
        try:
            host_ip = ipaddress.ip_address(self.host)
            if str(host_ip) not in ("127.0.0.1", "::1"):
                alt_names.append(x509.IPAddress(host_ip))
        except ValueError:
            alt_names.append(x509.DNSName(self.host))
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        cert_path.write_bytes(cert_pem)
        key_path.write_bytes(key_pem)
        key_path.chmod(0o600)
        return cert_pem, key_pem

    def _macaroon(self, name: str) -> bytes:
        path = self.macaroon_path(name)
        if path.exists():
            return path.read_bytes()
        # A random bearer token in place of a real macaroon: clients send the file's bytes hex
        # encoded in the `macaroon` metadata header exactly as with LND.
        value = secrets.token_bytes(32)
        path.write_bytes(value)
        path.chmod(0o600)
        return value

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> LndNetwork:
        for name, node in self.nodes.items():
            cert_pem, key_pem = self._tls_files(name)
            node.macaroon = self._macaroon(name)
            server = grpc.server(futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix=f"lnd-{name}"))
            ln_grpc.add_LightningServicer_to_server(LightningServicer(self, node), server)
            router_grpc.add_RouterServicer_to_server(RouterServicer(self, node), server)
            inv_grpc.add_InvoicesServicer_to_server(InvoicesServicer(self, node), server)
            creds = grpc.ssl_server_credentials([(key_pem, cert_pem)])
            node.port = server.add_secure_port(f"{self.host}:{node.port}", creds)
            if node.port == 0:
                raise RuntimeError(f"devnode lnd: cannot listen on {self.host} for node {name}")
            server.start()
            node.server = server
        self._write_manifest()
        logger.info(
            "devnode lnd: flashpay node %s on %s:%s, external node %s on %s:%s",
            self.nodes["flashpay"].pubkey, self.host, self.flashpay_port,
            self.nodes["external"].pubkey, self.host, self.external_port,
        )
        return self

    def stop(self) -> None:
        self._stopped.set()
        with self._cond:
            for timer in self._timers:
                timer.cancel()
            self._cond.notify_all()
        for node in self.nodes.values():
            if node.server is not None:
                node.server.stop(grace=0).wait(5)
                node.server = None
        with self._cond:
            if self._journal is not None:
                self._journal.close()
                self._journal = None

    def __enter__(self) -> LndNetwork:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _write_manifest(self) -> None:
        """lnd.json: how another process (`manage.py devnode pay`) reaches each node."""
        manifest = {
            name: {
                "host": self.host,
                "port": node.port,
                "pubkey": node.pubkey,
                "cert": str(self.cert_path(name)),
                "macaroon": str(self.macaroon_path(name)),
            }
            for name, node in self.nodes.items()
        }
        (self.datadir / "lnd.json").write_text(json.dumps(manifest, indent=2))

    def wait_subscribers(self, name: str = "flashpay", *, count: int = 1, timeout: float = 5.0) -> bool:
        """Wait until exactly `count` SubscribeInvoices streams are live on a node (tests)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.nodes[name].subscribers != count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    # --- injection ----------------------------------------------------------------------------
    def inject(
        self,
        *,
        payment_hash: str | None = None,
        payer: str = "flashpay",
        fail: bool = False,
        reason: str = "FAILURE_REASON_NO_ROUTE",
        delay: float = 0.0,
    ) -> None:
        """Make the payment of `payment_hash` (or the next payment by `payer`) fail or hang.

        `delay` keeps the payment in flight that long (a client with a shorter timeout sees an
        unknown outcome); then it fails with `reason` if `fail`, else completes normally.
        """
        Reason.Value(reason)  # refuse unknown reasons early
        if payer not in NODE_NAMES:
            raise ValueError(f"payer must be one of {', '.join(NODE_NAMES)}")
        rule = Rule(fail=fail, reason=reason, delay=delay)
        with self._cond:
            if payment_hash is not None:
                self._rules_by_hash[payment_hash] = rule
            else:
                self._rules_next[payer].append(rule)

    def _take_rule(self, payer: str, payment_hash: str) -> Rule | None:
        if payment_hash in self._rules_by_hash:
            return self._rules_by_hash.pop(payment_hash)
        if self._rules_next[payer]:
            return self._rules_next[payer].pop(0)
        return None

    # --- invoices -------------------------------------------------------------------------------
    def add_invoice(self, node: SimNode, request: ln.Invoice) -> SimInvoice:
        if request.value and request.value_msat:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "value and value_msat are mutually exclusive")
        value_msat = request.value_msat or request.value * 1000
        if value_msat < 0:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "payment of negative value is not allowed")
        if len(request.memo.encode()) > MAX_MEMO_BYTES:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "memo too long")
        if request.description_hash and len(request.description_hash) != 32:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"description hash is 32 bytes, got {len(request.description_hash)}")
        if request.expiry < 0:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "expiry must not be negative")
        if request.r_preimage and len(request.r_preimage) != 32:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "preimage must be 32 bytes")
        preimage = request.r_preimage or secrets.token_bytes(32)
        payment_hash = hashlib.sha256(preimage).digest()
        payment_addr = secrets.token_bytes(32)
        expiry = request.expiry or DEFAULT_EXPIRY
        now = int(time.time())
        payment_request = encode_invoice(
            private_key=node.key,
            currency="bcrt",
            timestamp=now,
            payment_hash=payment_hash,
            payment_secret=payment_addr,
            amount_msat=value_msat or None,
            description=None if request.description_hash else request.memo,
            description_hash=request.description_hash or None,
            expiry=expiry,
            min_final_cltv_expiry=DEFAULT_CLTV,
        )
        with self._cond:
            if payment_hash in node.invoices:
                raise Refused(grpc.StatusCode.ALREADY_EXISTS, "invoice with payment hash already exists")
            node.add_index += 1
            sim = SimInvoice(
                payment_hash=payment_hash,
                preimage=preimage,
                payment_addr=payment_addr,
                bolt11=payment_request,
                value_msat=value_msat,
                memo=request.memo,
                description_hash=request.description_hash,
                creation_date=now,
                expiry=expiry,
                add_index=node.add_index,
            )
            node.invoices[payment_hash] = sim
            node.events.append(("add", payment_hash))
            self._persist(invoice_node=node, invoice=sim)
            self._cond.notify_all()
            return sim

    def lookup_invoice(self, node: SimNode, r_hash: bytes) -> ln.Invoice:
        if len(r_hash) != 32:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "payment hash must be exactly 32 bytes")
        with self._cond:
            invoice = node.invoices.get(r_hash)
            if invoice is None:
                raise Refused(grpc.StatusCode.NOT_FOUND, "unable to locate invoice")
            return invoice.to_proto()

    def cancel_invoice(self, node: SimNode, payment_hash: bytes) -> None:
        """invoicesrpc.CancelInvoice: an open invoice becomes canceled and every later HTLC paying
        it is rejected (incorrect_or_unknown_payment_details). Canceling a canceled invoice is a
        no-op; a settled one is refused, as LND's invoice registry does."""
        if len(payment_hash) != 32:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "payment hash must be exactly 32 bytes")
        with self._cond:
            invoice = node.invoices.get(payment_hash)
            if invoice is None:
                raise Refused(grpc.StatusCode.UNKNOWN, "unable to locate invoice")
            if invoice.state == ln.Invoice.SETTLED:
                raise Refused(grpc.StatusCode.UNKNOWN, "invoice already settled")
            if invoice.state == ln.Invoice.CANCELED:
                return
            invoice.state = ln.Invoice.CANCELED
            self._persist(invoice_node=node, invoice=invoice)
            self._cond.notify_all()

    def subscribe_invoices(self, node: SimNode, request: ln.InvoiceSubscription, context):
        """LND semantics: a non-zero index first replays what came after it, then live events."""
        with self._cond:
            backlog: list[ln.Invoice] = []
            if request.add_index:
                backlog += [i.to_proto() for i in sorted(node.invoices.values(), key=lambda i: i.add_index) if i.add_index > request.add_index]
            if request.settle_index:
                settled = [i for i in node.invoices.values() if i.settle_index > request.settle_index]
                backlog += [i.to_proto() for i in sorted(settled, key=lambda i: i.settle_index)]
            position = len(node.events)
            node.subscribers += 1
            self._cond.notify_all()
        released = threading.Event()

        def release() -> None:
            # From the RPC's termination callback or the generator's end, whichever comes first.
            with self._cond:
                if not released.is_set():
                    released.set()
                    node.subscribers -= 1
                    self._cond.notify_all()

        if context is not None:
            context.add_callback(release)
        try:
            yield from backlog
            while context.is_active() and not self._stopped.is_set():
                with self._cond:
                    if position == len(node.events):
                        self._cond.wait(timeout=0.5)
                    fresh = node.events[position:]
                    position = len(node.events)
                    messages = [node.invoices[h].to_proto() for _kind, h in fresh]
                    # An add and its settle can both be pending: report each event's own state.
                    for message, (kind, _h) in zip(messages, fresh, strict=True):
                        if kind == "add" and message.state == ln.Invoice.SETTLED:
                            message.state = ln.Invoice.OPEN
                            message.settled = False
                yield from messages
        finally:
            release()
        if self._stopped.is_set():
            # Like LND shutting down: the stream ends with an error, never quietly.
            raise Refused(grpc.StatusCode.UNAVAILABLE, "lnd is shutting down")

    # --- payments -------------------------------------------------------------------------------
    def decode(self, payment_request: str):
        try:
            return decode_bolt11(payment_request, network=NETWORK)
        except InvalidPaymentRequest as exc:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, exc.message)

    def fee_for(self, amount_msat: int) -> int:
        return self.fee_base_msat + amount_msat * self.fee_ppm // 1_000_000

    def start_payment(
        self,
        payer: SimNode,
        *,
        payment_request: str,
        amt_msat: int,
        fee_limit_msat: int | None,
        allow_self_payment: bool,
    ) -> SimPayment:
        """Validate and start a payment; it completes now or later (injected delay)."""
        if not payment_request:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "payment_request is required")
        decoded = self.decode(payment_request)
        if decoded.amount_msat and amt_msat:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "amount must not be specified when paying a non-zero amount invoice")
        amount = decoded.amount_msat or amt_msat
        if not amount:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "amount must be specified when paying a zero amount invoice")
        if decoded.is_expired():
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"invoice expired. Valid until {dt.datetime.fromtimestamp(decoded.expires_at, dt.UTC).isoformat()}")
        payee = next((n for n in self.nodes.values() if n.pubkey == decoded.payee), None)
        with self._cond:
            existing = payer.payments.get(decoded.payment_hash)
            if existing is not None and existing.status == Status.SUCCEEDED:
                raise Refused(grpc.StatusCode.ALREADY_EXISTS, "invoice is already paid")
            if existing is not None and not existing.final:
                raise Refused(grpc.StatusCode.ALREADY_EXISTS, "payment is in transition")
            payer.payment_index += 1
            fee = 0 if payer.name == "external" else self.fee_for(amount)
            payment = SimPayment(
                payment_hash=decoded.payment_hash,
                bolt11=decoded.bolt11,
                value_msat=amount,
                fee_msat=fee,
                payee=decoded.payee,
                payment_index=payer.payment_index,
                creation_time_ns=time.time_ns(),
            )
            payer.payments[decoded.payment_hash] = payment
            failure = None
            if payee is None or (payee is payer and not allow_self_payment):
                failure = "FAILURE_REASON_NO_ROUTE"  # no route to an unknown node or to ourselves
            elif fee_limit_msat is not None and fee > fee_limit_msat:
                failure = "FAILURE_REASON_NO_ROUTE"  # every route costs more than the fee limit
            elif amount + fee > payer.local_msat:
                failure = "FAILURE_REASON_INSUFFICIENT_BALANCE"
            if failure:
                self._finish_failed(payment, failure)
                self._persist(payment_node=payer, payment=payment)
                return payment
            # The HTLC is locked in: the amount and fee leave the payer's balance now.
            payer.local_msat -= amount + fee
            self._persist(payment_node=payer, payment=payment)
            rule = self._take_rule(payer.name, decoded.payment_hash)
            self._cond.notify_all()
        if rule is not None and rule.delay > 0:
            timer = threading.Timer(rule.delay, self._resolve, args=(payer, payee, payment, rule))
            timer.daemon = True
            with self._cond:
                self._timers.append(timer)
            timer.start()
        else:
            self._resolve(payer, payee, payment, rule)
        return payment

    def _finish_failed(self, payment: SimPayment, reason: str) -> None:
        payment.status = Status.FAILED
        payment.failure_reason = Reason.Value(reason)
        self._cond.notify_all()

    def _resolve(self, payer: SimNode, payee: SimNode, payment: SimPayment, rule: Rule | None) -> None:
        with self._cond:
            if self._stopped.is_set():
                return
            refund = payment.value_msat + payment.fee_msat
            if rule is not None and rule.fail:
                payer.local_msat += refund
                self._finish_failed(payment, rule.reason)
                self._persist(payment_node=payer, payment=payment)
                return
            invoice = payee.invoices.get(bytes.fromhex(payment.payment_hash))
            if invoice is None or invoice.current_state != ln.Invoice.OPEN or payment.value_msat < invoice.value_msat:
                # The payee rejects the HTLC: incorrect_or_unknown_payment_details (BOLT #4).
                payer.local_msat += refund
                self._finish_failed(payment, "FAILURE_REASON_INCORRECT_PAYMENT_DETAILS")
                self._persist(payment_node=payer, payment=payment)
                return
            payee.settle_index += 1
            invoice.state = ln.Invoice.SETTLED
            invoice.settle_index = payee.settle_index
            invoice.settle_date = int(time.time())
            invoice.amt_paid_msat = payment.value_msat
            payee.local_msat += payment.value_msat
            # The routing fee goes to "the rest of the network", which the external node stands for.
            self.nodes["external"].local_msat += payment.fee_msat
            payee.events.append(("settle", invoice.payment_hash))
            payment.status = Status.SUCCEEDED
            payment.preimage = invoice.preimage.hex()
            # One journal line for both sides: a crash cannot keep one without the other.
            self._persist(invoice_node=payee, invoice=invoice, payment_node=payer, payment=payment)
            self._cond.notify_all()

    def follow_payment(self, payer: SimNode, payment_hash: str, context, *, inflight_updates: bool = True, last=None):
        """Yield the payment's state now and on every change until it is final (after `last`)."""
        while not self._stopped.is_set():
            with self._cond:
                payment = payer.payments.get(payment_hash)
                if payment is None:
                    raise Refused(grpc.StatusCode.NOT_FOUND, "payment isn't initiated")
                if payment.status == last and not payment.final:
                    self._cond.wait(timeout=0.5)
                status, message = payment.status, payment.to_proto()
            if status != last and (inflight_updates or message.status != Status.IN_FLIGHT):
                yield message
            last = status
            if status in (Status.SUCCEEDED, Status.FAILED) or (context is not None and not context.is_active()):
                return

    def node_balance(self, node: SimNode) -> ln.ChannelBalanceResponse:
        with self._cond:
            local = node.local_msat
            remote = sum(n.local_msat for n in self.nodes.values() if n is not node)
            pending = sum(p.value_msat + p.fee_msat for p in node.payments.values() if p.status == Status.IN_FLIGHT)
        return ln.ChannelBalanceResponse(
            local_balance=ln.Amount(sat=local // 1000, msat=local),
            remote_balance=ln.Amount(sat=remote // 1000, msat=remote),
            unsettled_local_balance=ln.Amount(sat=pending // 1000, msat=pending),
            unsettled_remote_balance=ln.Amount(),
        )

    def block_height(self) -> int:
        try:
            return int(self._block_height())
        except Exception:  # the chain half of the devnode may be down; LND would report stale
            return 0


def _authorized(node: SimNode, context) -> bool:
    supplied = dict(context.invocation_metadata()).get("macaroon", "")
    try:
        raw = bytes.fromhex(supplied)
    except ValueError:
        raw = b""
    return hmac.compare_digest(raw, node.macaroon)


def _guard(method):
    """Check the macaroon, then turn Refused into the gRPC status LND would send."""

    def unary(self, request, context):
        if not _authorized(self.node, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "verification failed: signature mismatch after caveat verification")
        try:
            return method(self, request, context)
        except Refused as exc:
            context.abort(exc.code, exc.message)

    def stream(self, request, context):
        if not _authorized(self.node, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "verification failed: signature mismatch after caveat verification")
        try:
            yield from method(self, request, context)
        except Refused as exc:
            context.abort(exc.code, exc.message)

    wrapper = stream if inspect.isgeneratorfunction(method) else unary
    wrapper.__name__ = method.__name__
    return wrapper


class LightningServicer(ln_grpc.LightningServicer):
    def __init__(self, network: LndNetwork, node: SimNode):
        self.network = network
        self.node = node

    @_guard
    def AddInvoice(self, request, context):  # noqa: N802 - gRPC method names
        invoice = self.network.add_invoice(self.node, request)
        return ln.AddInvoiceResponse(
            r_hash=invoice.payment_hash,
            payment_request=invoice.bolt11,
            add_index=invoice.add_index,
            payment_addr=invoice.payment_addr,
        )

    @_guard
    def LookupInvoice(self, request, context):  # noqa: N802
        return self.network.lookup_invoice(self.node, request.r_hash)

    @_guard
    def SubscribeInvoices(self, request, context):  # noqa: N802
        yield from self.network.subscribe_invoices(self.node, request, context)

    @_guard
    def DecodePayReq(self, request, context):  # noqa: N802
        decoded = self.network.decode(request.pay_req)
        return ln.PayReq(
            destination=decoded.payee,
            payment_hash=decoded.payment_hash,
            num_satoshis=(decoded.amount_msat or 0) // 1000,
            timestamp=decoded.timestamp,
            expiry=decoded.expiry,
            description=decoded.description or "",
            description_hash=decoded.description_hash or "",
            cltv_expiry=decoded.min_final_cltv_expiry,
            payment_addr=bytes.fromhex(decoded.payment_secret) if decoded.payment_secret else b"",
            num_msat=decoded.amount_msat or 0,
        )

    @_guard
    def GetInfo(self, request, context):  # noqa: N802
        others = [n for n in self.network.nodes.values() if n is not self.node]
        return ln.GetInfoResponse(
            identity_pubkey=self.node.pubkey,
            alias=f"devnode-{self.node.name}",
            num_active_channels=len(others),
            num_peers=len(others),
            block_height=self.network.block_height(),
            synced_to_chain=True,
            version=VERSION,
            chains=[ln.Chain(network=NETWORK)],
            uris=[f"{self.node.pubkey}@{self.network.host}:9735"],
        )

    @_guard
    def ChannelBalance(self, request, context):  # noqa: N802
        return self.network.node_balance(self.node)

    @_guard
    def SendPaymentSync(self, request, context):  # noqa: N802
        amount_hint = request.amt_msat or request.amt * 1000
        fee_limit = _sync_fee_limit(request.fee_limit, amount_hint)
        try:
            payment = self.network.start_payment(
                self.node,
                payment_request=request.payment_request,
                amt_msat=amount_hint,
                fee_limit_msat=fee_limit,
                allow_self_payment=request.allow_self_payment,
            )
        except Refused as exc:
            if exc.code == grpc.StatusCode.INVALID_ARGUMENT:
                raise
            return ln.SendResponse(payment_error=exc.message)
        final = None
        for update in self.network.follow_payment(self.node, payment.payment_hash, context):
            final = update
        if final is None or final.status != Status.SUCCEEDED:
            reason = Reason.Name(final.failure_reason) if final is not None else "FAILURE_REASON_ERROR"
            return ln.SendResponse(payment_error=reason, payment_hash=bytes.fromhex(payment.payment_hash))
        return ln.SendResponse(
            payment_preimage=bytes.fromhex(final.payment_preimage),
            payment_hash=bytes.fromhex(final.payment_hash),
        )


def _sync_fee_limit(limit: ln.FeeLimit, amount_msat: int) -> int | None:
    """SendPaymentSync's FeeLimit oneof in msat; None (no limit given) lets any fee through."""
    which = limit.WhichOneof("limit")
    if which == "fixed":
        return limit.fixed * 1000
    if which == "fixed_msat":
        return limit.fixed_msat
    if which == "percent":
        return amount_msat * limit.percent // 100
    return None


class InvoicesServicer(inv_grpc.InvoicesServicer):
    def __init__(self, network: LndNetwork, node: SimNode):
        self.network = network
        self.node = node

    @_guard
    def CancelInvoice(self, request, context):  # noqa: N802
        self.network.cancel_invoice(self.node, request.payment_hash)
        return inv.CancelInvoiceResp()


class RouterServicer(router_grpc.RouterServicer):
    def __init__(self, network: LndNetwork, node: SimNode):
        self.network = network
        self.node = node

    @_guard
    def SendPaymentV2(self, request, context):  # noqa: N802
        if request.timeout_seconds <= 0:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "timeout_seconds must be specified")
        if request.fee_limit_sat and request.fee_limit_msat:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "fee_limit_sat and fee_limit_msat are mutually exclusive")
        # routerrpc: a zero fee limit means only zero-fee routes are acceptable.
        fee_limit = request.fee_limit_msat or request.fee_limit_sat * 1000
        payment = self.network.start_payment(
            self.node,
            payment_request=request.payment_request,
            amt_msat=request.amt_msat or request.amt * 1000,
            fee_limit_msat=fee_limit,
            allow_self_payment=request.allow_self_payment,
        )
        last = None
        if not request.no_inflight_updates:
            # LND's first update is always the payment in flight, however fast it completes.
            first = ln.Payment(
                payment_hash=payment.payment_hash,
                payment_preimage="0" * 64,
                value_sat=payment.value_msat // 1000,
                value_msat=payment.value_msat,
                payment_request=payment.bolt11,
                status=Status.IN_FLIGHT,
                creation_time_ns=payment.creation_time_ns,
                payment_index=payment.payment_index,
            )
            yield first
            last = Status.IN_FLIGHT
        yield from self.network.follow_payment(
            self.node, payment.payment_hash, context, inflight_updates=not request.no_inflight_updates, last=last
        )

    @_guard
    def TrackPaymentV2(self, request, context):  # noqa: N802
        yield from self.network.follow_payment(
            self.node,
            request.payment_hash.hex(),
            context,
            inflight_updates=not request.no_inflight_updates,
        )


def read_manifest(datadir: str | Path) -> dict:
    """The lnd.json a running devnode wrote: host, port, cert and macaroon paths per node."""
    path = Path(datadir) / "lnd.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RuntimeError(f"no devnode LND running with datadir {datadir} ({path} is missing)")


def node_backend(datadir: str | Path, name: str = "external", *, timeout: float = 10.0):
    """An LndBackend for a node of a running devnode (any process), from its lnd.json."""
    from lightning.backends.lnd import LndBackend

    info = read_manifest(datadir)[name]
    return LndBackend(
        server=f"{info['host']}:{info['port']}",
        macaroon=Path(info["macaroon"]).read_bytes(),
        cert_pem=Path(info["cert"]).read_bytes(),
        timeout=timeout,
    )


def pay_from_external(
    bolt11: str,
    *,
    datadir: str | Path,
    amount_msat: int | None = None,
    timeout: float = 30.0,
):
    """Have the external node ("the rest of the network") pay `bolt11` over gRPC: `devnode pay`."""
    backend = node_backend(datadir, "external", timeout=timeout)
    try:
        return backend.pay(bolt11, fee_limit_msat=0, timeout=timeout, amount_msat=amount_msat)
    finally:
        backend.close()
