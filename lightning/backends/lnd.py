"""LND backend: lnrpc/routerrpc over gRPC with TLS and a macaroon."""
from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from google.protobuf.message import DecodeError

from lightning.backends.base import (
    InvoiceState,
    LightningBackend,
    NodeBalance,
    NodeInfo,
    NodeInvoice,
    PaymentResult,
    PaymentStatus,
)
from lightning.bolt11_helpers import DecodedPaymentRequest, decode_bolt11, require_amount
from lightning.errors import (
    InvalidPaymentRequest,
    InvoiceNotFound,
    LightningError,
    NodeAnswerError,
    NodeAuthError,
    NodeTLSError,
    NodeUnreachable,
)
from lightning.protos import invoices_pb2 as inv
from lightning.protos import invoices_pb2_grpc as inv_grpc
from lightning.protos import lightning_pb2 as ln
from lightning.protos import lightning_pb2_grpc as ln_grpc
from lightning.protos import router_pb2 as router
from lightning.protos import router_pb2_grpc as router_grpc

logger = logging.getLogger(__name__)

_INVOICE_STATES = {
    ln.Invoice.OPEN: InvoiceState.OPEN,
    ln.Invoice.ACCEPTED: InvoiceState.OPEN,
    ln.Invoice.SETTLED: InvoiceState.SETTLED,
    ln.Invoice.CANCELED: InvoiceState.CANCELED,
}
# lnrpc.Invoice.expiry when left at 0 (lnd invoices.DefaultInvoiceExpiry).
_LND_DEFAULT_EXPIRY = 86400
# Large enough for LND's biggest answers, as lncli sets it.
_MAX_MESSAGE = 200 * 1024 * 1024


def fetch_certificate_by_thumbprint(host: str, port: int, thumbprint: str, *, timeout: float) -> bytes:
    """The node's certificate as PEM, accepted only if its SHA-256 thumbprint matches (BTCPay's
    `certthumbprint`): the pinned certificate then serves as the gRPC root of trust."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # verified by the pinned thumbprint below instead
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
    except OSError as exc:
        raise NodeUnreachable(f"cannot reach LND at {host}:{port}: {exc.strerror or exc}")
    actual = hashlib.sha256(der).hexdigest()
    wanted = thumbprint.replace(":", "").lower()
    if not hmac.compare_digest(actual, wanted):
        raise NodeTLSError(f"LND at {host}:{port} presented a certificate with another thumbprint")
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


class LndBackend(LightningBackend):
    def __init__(
        self,
        *,
        server: str,
        macaroon: bytes,
        cert_pem: bytes | None = None,
        cert_thumbprint: str | None = None,
        timeout: float = 10.0,
    ):
        self.server = server
        self.timeout = timeout
        self._macaroon_hex = macaroon.hex()
        self._cert_pem = cert_pem
        self._cert_thumbprint = cert_thumbprint
        self._channel: grpc.Channel | None = None
        self._stubs: dict[type, tuple[grpc.Channel, object]] = {}
        self._lock = threading.Lock()
        self._network: str | None = None

    def __repr__(self) -> str:  # never the macaroon
        return f"LndBackend(server={self.server!r})"

    # --- plumbing -------------------------------------------------------------------------------
    def _open(self) -> grpc.Channel:
        with self._lock:
            if self._channel is None:
                cert = self._cert_pem
                if cert is None and self._cert_thumbprint:
                    host, _, port = self.server.rpartition(":")
                    cert = fetch_certificate_by_thumbprint(
                        host.strip("[]"), int(port), self._cert_thumbprint, timeout=self.timeout
                    )
                credentials = grpc.ssl_channel_credentials(root_certificates=cert)
                options = [
                    ("grpc.max_receive_message_length", _MAX_MESSAGE),
                    # Notice a node that vanished without closing the connection (streams).
                    ("grpc.keepalive_time_ms", 30_000),
                    ("grpc.keepalive_timeout_ms", 10_000),
                    # Come back soon after a node restart: the watcher waits on this channel.
                    ("grpc.initial_reconnect_backoff_ms", 500),
                    ("grpc.max_reconnect_backoff_ms", 5_000),
                ]
                name = _certificate_name(cert) if cert is not None else None
                if name is not None:
                    # A pinned self-signed certificate (LND's tls.cert) is the trust anchor; it
                    # names "localhost" and the node's own names, which the address may not be.
                    options.append(("grpc.ssl_target_name_override", name))
                self._channel = grpc.secure_channel(self.server, credentials, options=options)
            return self._channel

    @property
    def _metadata(self) -> list[tuple[str, str]]:
        return [("macaroon", self._macaroon_hex)]

    def _stub(self, stub_class):
        # A stub builds a callable per RPC of its service (Lightning has dozens): one per
        # channel, not one per call. Two threads racing here build two; either will do.
        channel = self._open()
        cached = self._stubs.get(stub_class)
        if cached is None or cached[0] is not channel:
            cached = self._stubs[stub_class] = (channel, stub_class(channel))
        return cached[1]

    def _lightning(self) -> ln_grpc.LightningStub:
        return self._stub(ln_grpc.LightningStub)

    def _router(self) -> router_grpc.RouterStub:
        return self._stub(router_grpc.RouterStub)

    def _invoices(self) -> inv_grpc.InvoicesStub:
        return self._stub(inv_grpc.InvoicesStub)

    def close(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.close()
                self._channel = None
            self._node_pubkey = None

    def _error(self, exc: grpc.RpcError, what: str) -> LightningError:
        code, details = exc.code(), exc.details() or ""
        lowered = details.lower()
        if (
            code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
            or "macaroon" in lowered
            or "verification failed" in lowered
        ):
            return NodeAuthError(f"LND at {self.server} refused our macaroon ({what})")
        if code == grpc.StatusCode.UNAVAILABLE:
            if any(word in lowered for word in ("ssl", "tls", "handshake", "certificate")):
                return NodeTLSError(f"TLS handshake with LND at {self.server} failed: check the certificate")
            return NodeUnreachable(f"LND at {self.server} is unreachable ({what}): {details}")
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return NodeUnreachable(f"LND at {self.server} did not answer in time ({what})")
        if code == grpc.StatusCode.CANCELLED:
            return NodeUnreachable(f"LND at {self.server} dropped the call ({what})")
        if code == grpc.StatusCode.INTERNAL and "deserializ" in lowered:
            return NodeAnswerError(f"LND at {self.server} sent an answer we cannot parse ({what})")
        if code == grpc.StatusCode.NOT_FOUND:
            return InvoiceNotFound(f"{what}: {details}")
        return LightningError(f"LND {what} failed: {details or code.name}")

    def _call(self, method, request, what: str):
        try:
            return method(request, metadata=self._metadata, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise self._error(exc, what)
        except DecodeError:
            raise NodeAnswerError(f"LND at {self.server} sent an answer we cannot parse ({what})")

    # --- invoices -------------------------------------------------------------------------------
    def create_invoice(self, *, amount_msat, memo="", description=None, description_hash=None, expiry=3600):
        if amount_msat is not None and amount_msat < 0:
            raise InvalidPaymentRequest("amount_msat must not be negative")
        if description is not None:
            # LUD-06 style: the invoice commits to the SHA-256 of the full description.
            description_hash = hashlib.sha256(description.encode()).digest()
        request = ln.Invoice(
            memo=memo,
            value_msat=amount_msat or 0,
            description_hash=description_hash or b"",
            expiry=expiry,
        )
        # Taken before the call, so the expiry we record is never later than the node's.
        created_at = int(time.time())
        answer = self._call(self._lightning().AddInvoice, request, "AddInvoice")
        if len(answer.r_hash) != 32 or not answer.payment_request.lower().startswith("ln"):
            raise NodeAnswerError(f"LND at {self.server} answered AddInvoice without hash or request")
        # No BOLT11 decode here: we minted it with the amount, memo and expiry we asked for, and
        # AddInvoice names its hash. A pure-Python decode costs more than the rest of the call;
        # payment requests from outside are still decoded and verified (pay, decode).
        return NodeInvoice(
            payment_hash=answer.r_hash.hex(),
            bolt11=answer.payment_request,
            amount_msat=amount_msat or None,
            state=InvoiceState.OPEN,
            memo=memo,
            description_hash=(description_hash or b"").hex(),
            created_at=created_at,
            # lnrpc AddInvoice: expiry 0 means LND's default of one day
            expires_at=created_at + (expiry or _LND_DEFAULT_EXPIRY),
        )

    def _invoice(self, message: ln.Invoice) -> NodeInvoice:
        if len(message.r_hash) != 32 or message.state not in _INVOICE_STATES:
            raise NodeAnswerError(f"LND at {self.server} sent a malformed invoice")
        state = _INVOICE_STATES[message.state]
        return NodeInvoice(
            payment_hash=message.r_hash.hex(),
            bolt11=message.payment_request,
            amount_msat=message.value_msat or None,
            state=state,
            memo=message.memo,
            description_hash=message.description_hash.hex(),
            created_at=message.creation_date,
            expires_at=message.creation_date + message.expiry,
            settled_at=message.settle_date if state == InvoiceState.SETTLED else None,
            settle_index=message.settle_index,
            amount_received_msat=message.amt_paid_msat,
            preimage=message.r_preimage.hex() if state == InvoiceState.SETTLED else "",
        )

    def lookup_invoice(self, payment_hash: str) -> NodeInvoice:
        try:
            r_hash = bytes.fromhex(payment_hash)
        except ValueError:
            r_hash = b""
        if len(r_hash) != 32:
            raise InvalidPaymentRequest("a payment hash is 32 bytes of hex")
        return self._invoice(self._call(self._lightning().LookupInvoice, ln.PaymentHash(r_hash=r_hash), "LookupInvoice"))

    def cancel_invoice(self, payment_hash: str) -> InvoiceState:
        try:
            r_hash = bytes.fromhex(payment_hash)
        except ValueError:
            r_hash = b""
        if len(r_hash) != 32:
            raise InvalidPaymentRequest("a payment hash is 32 bytes of hex")
        try:
            # invoicesrpc.CancelInvoice; LND answers a plain error (code UNKNOWN) for an unknown
            # or settled invoice, so those are told apart by its message.
            self._invoices().CancelInvoice(
                inv.CancelInvoiceMsg(payment_hash=r_hash), metadata=self._metadata, timeout=self.timeout
            )
        except grpc.RpcError as exc:
            details = (exc.details() or "").lower()
            if "already settled" in details:
                return InvoiceState.SETTLED
            if "unable to locate invoice" in details or "not found" in details:
                raise InvoiceNotFound(f"CancelInvoice: {exc.details()}")
            raise self._error(exc, "CancelInvoice")
        return InvoiceState.CANCELED

    def stream_settled(self, *, from_settle_index, stop_event=None) -> Iterator[NodeInvoice]:
        # LND replays settlements after a non-zero settle_index, then streams live (lnrpc
        # SubscribeInvoices). Index 0 asks for no backlog: callers reconcile that case. The call
        # starts here, not at the first next(), so a caller can reconcile after subscribing.
        call = self._lightning().SubscribeInvoices(
            ln.InvoiceSubscription(settle_index=from_settle_index), metadata=self._metadata
        )
        return self._settled(call, from_settle_index, stop_event)

    def _settled(self, call, from_settle_index: int, stop_event) -> Iterator[NodeInvoice]:
        done = threading.Event()

        def cancel_on_stop() -> None:
            while not done.is_set():
                if stop_event is not None and stop_event.wait(0.2):
                    call.cancel()
                    return
                if stop_event is None:
                    done.wait(1)

        watcher = threading.Thread(target=cancel_on_stop, name="lnd-stream-stop", daemon=True)
        watcher.start()
        cursor = from_settle_index
        try:
            for message in call:
                if message.state != ln.Invoice.SETTLED or message.settle_index <= cursor:
                    continue
                invoice = self._invoice(message)
                cursor = invoice.settle_index
                yield invoice
            if stop_event is None or not stop_event.is_set():
                # LND never ends this stream by itself: an end means the node went away.
                raise NodeUnreachable(f"LND at {self.server} ended the invoice subscription")
        except grpc.RpcError as exc:
            if stop_event is not None and stop_event.is_set() and exc.code() == grpc.StatusCode.CANCELLED:
                return
            raise self._error(exc, "SubscribeInvoices")
        finally:
            done.set()
            call.cancel()

    # --- payments -------------------------------------------------------------------------------
    def _result(self, payment: ln.Payment) -> PaymentResult:
        if payment.status == ln.Payment.SUCCEEDED:
            if len(payment.payment_preimage) != 64:
                raise NodeAnswerError(f"LND at {self.server} reported success without a preimage")
            return PaymentResult(
                status=PaymentStatus.SUCCESS,
                payment_hash=payment.payment_hash,
                preimage=payment.payment_preimage,
                amount_msat=payment.value_msat,
                fee_msat=payment.fee_msat,
            )
        if payment.status == ln.Payment.FAILED:
            return PaymentResult(
                status=PaymentStatus.FAILED,
                payment_hash=payment.payment_hash,
                amount_msat=payment.value_msat,
                reason=ln.PaymentFailureReason.Name(payment.failure_reason),
            )
        return PaymentResult(status=PaymentStatus.UNKNOWN, payment_hash=payment.payment_hash, amount_msat=payment.value_msat, reason="in flight")

    def _follow(self, call, payment_hash: str, what: str) -> PaymentResult:
        """Read payment updates until a final one; UNKNOWN when the deadline passes first."""
        latest = PaymentResult(status=PaymentStatus.UNKNOWN, payment_hash=payment_hash, reason="no answer yet")
        try:
            for update in call:
                latest = self._result(update)
                if latest.status != PaymentStatus.UNKNOWN:
                    return latest
        except grpc.RpcError as exc:
            code = exc.code()
            if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                # The node may have the HTLC out: unknown is not failed.
                return PaymentResult(status=PaymentStatus.UNKNOWN, payment_hash=payment_hash, reason=f"{what}: {code.name.lower()}")
            raise self._error(exc, what)
        return latest

    def network(self) -> str:
        """The node's network (regtest, mainnet...), asked once: invoices for others are refused."""
        if self._network is None:
            self._network = self.node_info().network
        return self._network

    def pay(self, bolt11, *, fee_limit_msat, timeout, amount_msat=None) -> PaymentResult:
        decoded = decode_bolt11(bolt11, network=self.network())
        amount = require_amount(decoded, amount_msat)
        if fee_limit_msat < 0:
            raise InvalidPaymentRequest("fee limit must not be negative")
        request = router.SendPaymentRequest(
            payment_request=decoded.bolt11,
            # routerrpc refuses an amount for an invoice that carries its own.
            amt_msat=amount if decoded.amount_msat is None else 0,
            fee_limit_msat=fee_limit_msat,
            timeout_seconds=max(1, int(timeout)),
        )
        call = self._router().SendPaymentV2(request, metadata=self._metadata, timeout=timeout)
        try:
            # Peek at the first answer: errors before the payment started are definite.
            first = next(call)
        except StopIteration:
            return PaymentResult(status=PaymentStatus.UNKNOWN, payment_hash=decoded.payment_hash, reason="stream ended")
        except grpc.RpcError as exc:
            code, details = exc.code(), (exc.details() or "")
            if code == grpc.StatusCode.ALREADY_EXISTS and "already paid" in details:
                # Paid before (a retry after a crash): the earlier payment is the answer.
                return self.track_payment(decoded.payment_hash)
            if code == grpc.StatusCode.ALREADY_EXISTS:
                return PaymentResult(status=PaymentStatus.UNKNOWN, payment_hash=decoded.payment_hash, reason=details)
            if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNKNOWN):
                return PaymentResult(status=PaymentStatus.FAILED, payment_hash=decoded.payment_hash, reason=details)
            error = self._error(exc, "SendPaymentV2")
            if isinstance(error, NodeUnreachable | NodeAnswerError):
                # The request may have reached the node before the line broke: track it later.
                return PaymentResult(status=PaymentStatus.UNKNOWN, payment_hash=decoded.payment_hash, reason=error.message)
            raise error
        result = self._result(first)
        if result.status != PaymentStatus.UNKNOWN:
            return result
        return self._follow(call, decoded.payment_hash, "SendPaymentV2")

    def track_payment(self, payment_hash: str, *, wait: float = 0.0) -> PaymentResult:
        try:
            r_hash = bytes.fromhex(payment_hash)
        except ValueError:
            r_hash = b""
        if len(r_hash) != 32:
            raise InvalidPaymentRequest("a payment hash is 32 bytes of hex")
        call = self._router().TrackPaymentV2(
            router.TrackPaymentRequest(payment_hash=r_hash),
            metadata=self._metadata,
            timeout=max(wait, 0.0) + self.timeout,
        )
        try:
            first = next(call)
        except StopIteration:
            raise NodeAnswerError(f"LND at {self.server} ended TrackPaymentV2 without an update")
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                # The node never started this payment: it cannot complete any more.
                return PaymentResult(status=PaymentStatus.FAILED, payment_hash=payment_hash, reason="payment not initiated")
            raise self._error(exc, "TrackPaymentV2")
        result = self._result(first)
        if result.status != PaymentStatus.UNKNOWN or wait <= 0:
            call.cancel()
            return result
        followed = self._follow(_until(call, wait), payment_hash, "TrackPaymentV2")
        call.cancel()
        return followed

    def decode(self, bolt11: str) -> DecodedPaymentRequest:
        local = decode_bolt11(bolt11, network=self.network())
        answer = self._call(self._lightning().DecodePayReq, ln.PayReqString(pay_req=local.bolt11), "DecodePayReq")
        if answer.payment_hash != local.payment_hash or answer.destination != local.payee:
            raise NodeAnswerError("LND decoded the payment request differently from BOLT #11")
        return local

    def node_info(self) -> NodeInfo:
        answer = self._call(self._lightning().GetInfo, ln.GetInfoRequest(), "GetInfo")
        if len(answer.identity_pubkey) != 66:
            raise NodeAnswerError(f"LND at {self.server} sent GetInfo without a node key")
        network = answer.chains[0].network if answer.chains else ""
        return NodeInfo(
            pubkey=answer.identity_pubkey,
            alias=answer.alias,
            network=network,
            block_height=answer.block_height,
            synced=answer.synced_to_chain,
            version=answer.version,
        )

    def balance(self) -> NodeBalance:
        answer = self._call(self._lightning().ChannelBalance, ln.ChannelBalanceRequest(), "ChannelBalance")
        return NodeBalance(
            local_msat=answer.local_balance.msat,
            remote_msat=answer.remote_balance.msat,
            pending_local_msat=answer.unsettled_local_balance.msat,
        )


def _certificate_name(cert_pem: bytes) -> str | None:
    """A DNS name the pinned certificate is valid for: gRPC checks the peer against it."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return None
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = names.get_values_for_type(x509.DNSName)
        if dns:
            return "localhost" if "localhost" in dns else dns[0]
    except x509.ExtensionNotFound:
        pass
    common = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    return str(common[0].value) if common else None


def _until(call, wait: float):
    """Iterate a stream, cancelling it when `wait` seconds have passed."""
    timer = threading.Timer(wait, call.cancel)
    timer.daemon = True
    timer.start()
    try:
        yield from call
    finally:
        timer.cancel()
