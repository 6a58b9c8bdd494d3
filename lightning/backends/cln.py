"""Core Lightning backend: JSON-RPC 2.0 over lightningd's unix socket (or a TCP forward of it).

We speak the socket protocol directly rather than through pyln-client: pyln-client pulls in
pyln-proto, which replaces the `coincurve` module (via the `coincurve-cp314-fix` distribution)
that the bolt11 package and the devnode rely on. The protocol is small: one JSON request per
connection, one JSON object back.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator

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
    NodeUnreachable,
)

# lightningd error codes (doc/lightning-*.7): pay 201 already paid, 203 permanent failure at
# destination, 205 unable to find a route, 206 route too expensive, 207 invoice expired,
# 210 failed after retries; waitanyinvoice 904 timeout; JSON-RPC -32600.. generic.
_PAY_ALREADY_PAID = 201
_PAY_DEFINITE_FAILURES = {203, 205, 206, 207, 210, -32602}
_WAIT_TIMEOUT = 904
# delinvoice (lightning-delinvoice(7)): 905 no invoice with that label, 906 its status is not the
# one we named (it changed since we looked).
_INVOICE_NOT_FOUND = 905
_INVOICE_STATUS_UNEXPECTED = 906
_NETWORKS = {"bitcoin": "mainnet", "testnet": "testnet", "signet": "signet", "regtest": "regtest"}


class ClnRpcError(LightningError):
    def __init__(self, message: str, *, rpc_code: int):
        super().__init__(message)
        self.rpc_code = rpc_code


def _msat(value, what: str) -> int:
    """CLN amounts: an int of msat (v23+) or a string '123msat' (older)."""
    if isinstance(value, bool):
        raise NodeAnswerError(f"Core Lightning sent a malformed {what}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("msat") and value[:-4].isdigit():
        return int(value[:-4])
    raise NodeAnswerError(f"Core Lightning sent a malformed {what}")


class ClnBackend(LightningBackend):
    def __init__(self, *, socket_path: str | None = None, host: str | None = None, port: int | None = None, timeout: float = 10.0):
        if not socket_path and not (host and port):
            raise ValueError("ClnBackend needs socket_path or host and port")
        self.socket_path = socket_path
        self.host, self.port = host, port
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._network: str | None = None

    def __repr__(self) -> str:
        return f"ClnBackend({self.socket_path or f'{self.host}:{self.port}'})"

    # --- JSON-RPC ---------------------------------------------------------------------------------
    def _connect(self, timeout: float | None) -> socket.socket:
        try:
            if self.socket_path:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                sock.connect(self.socket_path)
            else:
                sock = socket.create_connection((self.host, self.port), timeout=timeout)
            return sock
        except OSError as exc:
            raise NodeUnreachable(f"cannot reach Core Lightning at {self!r}: {exc.strerror or exc}")

    def call(self, method: str, params: dict | None = None, *, timeout: float | None = None):
        timeout = self.timeout if timeout is None else timeout
        request_id = next(self._ids)
        payload = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
        sock = self._connect(timeout)
        decoder = json.JSONDecoder()
        buffer = b""
        try:
            sock.sendall(payload.encode() + b"\n")
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    raise NodeAnswerError(f"Core Lightning closed the connection during {method}")
                buffer += chunk
                try:
                    # Decode the whole buffer: a UTF-8 character may straddle two chunks.
                    answer, _ = decoder.raw_decode(buffer.decode("utf-8", errors="replace").lstrip())
                    break
                except json.JSONDecodeError:
                    if len(buffer) > 50 * 1024 * 1024:
                        raise NodeAnswerError(f"Core Lightning sent an endless answer to {method}")
        except TimeoutError:
            raise NodeUnreachable(f"Core Lightning did not answer {method} in time")
        except OSError as exc:
            raise NodeUnreachable(f"Core Lightning connection broke during {method}: {exc.strerror or exc}")
        finally:
            sock.close()
        if not isinstance(answer, dict) or answer.get("id") != request_id:
            raise NodeAnswerError(f"Core Lightning sent a malformed answer to {method}")
        if "error" in answer:
            error = answer["error"] if isinstance(answer["error"], dict) else {}
            code = error.get("code", 0)
            message = str(error.get("message", "unknown error"))
            if "rune" in message.lower() or "not authorized" in message.lower():
                raise NodeAuthError(f"Core Lightning refused {method}: {message}")
            raise ClnRpcError(f"Core Lightning {method} failed: {message}", rpc_code=code if isinstance(code, int) else 0)
        result = answer.get("result")
        if not isinstance(result, dict):
            raise NodeAnswerError(f"Core Lightning sent no result object for {method}")
        return result

    # --- invoices -------------------------------------------------------------------------------
    def _invoice(self, data: dict) -> NodeInvoice:
        try:
            payment_hash = data["payment_hash"]
            status = data["status"]
            bolt11 = data.get("bolt11", "")
            if len(payment_hash) != 64 or status not in ("unpaid", "paid", "expired"):
                raise ValueError
            amount = _msat(data["amount_msat"], "amount") if data.get("amount_msat") not in (None, "any") else None
            paid = status == "paid"
            received = _msat(data.get("amount_received_msat", 0), "amount_received_msat") if paid else 0
            expires_at = int(data.get("expires_at", 0))
            return NodeInvoice(
                payment_hash=payment_hash,
                bolt11=bolt11,
                amount_msat=amount,
                state={"unpaid": InvoiceState.OPEN, "paid": InvoiceState.SETTLED, "expired": InvoiceState.CANCELED}[status],
                memo=data.get("description", "") or "",
                created_at=int(data.get("created_at", 0) or 0),
                expires_at=expires_at,
                settled_at=int(data["paid_at"]) if paid and "paid_at" in data else None,
                settle_index=int(data.get("pay_index", 0)) if paid else 0,
                amount_received_msat=received,
                preimage=str(data.get("payment_preimage", "")) if paid else "",
            )
        except NodeAnswerError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError):
            raise NodeAnswerError("Core Lightning sent a malformed invoice")

    def create_invoice(self, *, amount_msat, memo="", description=None, description_hash=None, expiry=3600):
        if amount_msat is not None and amount_msat < 0:
            raise InvalidPaymentRequest("amount_msat must not be negative")
        params: dict = {
            "amount_msat": amount_msat if amount_msat else "any",
            "label": f"flashpay-{secrets.token_hex(12)}",
            "description": memo,
            "expiry": expiry,
        }
        if description is not None:
            # CLN commits to sha256(description) itself when asked for the hash only.
            params["description"] = description
            params["deschashonly"] = True
            description_hash = hashlib.sha256(description.encode()).digest()
        elif description_hash is not None:
            raise LightningError("Core Lightning needs the description text to commit to its hash")
        answer = self.call("invoice", params)
        try:
            bolt11, payment_hash, expires_at = answer["bolt11"], answer["payment_hash"], answer["expires_at"]
            if not isinstance(bolt11, str) or not bolt11.lower().startswith("ln"):
                raise ValueError
            if len(bytes.fromhex(payment_hash)) != 32 or isinstance(expires_at, bool):
                raise ValueError
            expires_at = int(expires_at)
        except (KeyError, TypeError, ValueError):
            raise NodeAnswerError("Core Lightning answered invoice without bolt11, payment_hash or expires_at")
        # No BOLT11 decode: the node minted it with what we asked for and names its hash and
        # expiry (lightning-invoice(7)); payment requests from outside are still decoded.
        return NodeInvoice(
            payment_hash=payment_hash,
            bolt11=bolt11,
            amount_msat=amount_msat or None,
            state=InvoiceState.OPEN,
            memo=memo,
            description_hash=(description_hash or b"").hex(),
            created_at=expires_at - expiry,
            expires_at=expires_at,
        )

    def lookup_invoice(self, payment_hash: str) -> NodeInvoice:
        answer = self.call("listinvoices", {"payment_hash": payment_hash})
        invoices = answer.get("invoices")
        if not isinstance(invoices, list):
            raise NodeAnswerError("Core Lightning sent listinvoices without invoices")
        if not invoices:
            raise InvoiceNotFound(f"no invoice with payment hash {payment_hash}")
        return self._invoice(invoices[0])

    def cancel_invoice(self, payment_hash: str, *, _attempts: int = 2) -> InvoiceState:
        # Core Lightning has no "canceled" state: an unpaid invoice is deleted (delinvoice with
        # status "unpaid", which refuses if it got paid meanwhile) and then HTLCs paying it are
        # rejected as unknown; an expired one is already unpayable.
        answer = self.call("listinvoices", {"payment_hash": payment_hash})
        invoices = answer.get("invoices")
        if not isinstance(invoices, list):
            raise NodeAnswerError("Core Lightning sent listinvoices without invoices")
        if not invoices:
            raise InvoiceNotFound(f"no invoice with payment hash {payment_hash}")
        data = invoices[0]
        status, label = data.get("status"), data.get("label")
        if status == "paid":
            return InvoiceState.SETTLED
        if status == "expired":
            return InvoiceState.CANCELED
        if status != "unpaid" or not isinstance(label, str):
            raise NodeAnswerError("Core Lightning sent a malformed invoice")
        try:
            self.call("delinvoice", {"label": label, "status": "unpaid"})
        except ClnRpcError as exc:
            if exc.rpc_code == _INVOICE_NOT_FOUND:
                return InvoiceState.CANCELED  # deleted by someone else in between
            if exc.rpc_code == _INVOICE_STATUS_UNEXPECTED and _attempts > 1:
                return self.cancel_invoice(payment_hash, _attempts=_attempts - 1)  # paid or expired since
            raise
        return InvoiceState.CANCELED

    def stream_settled(self, *, from_settle_index, stop_event=None) -> Iterator[NodeInvoice]:
        # waitanyinvoice returns the next invoice paid after lastpay_index at once, or waits for
        # one; the short timeout only bounds how long a stop request waits.
        cursor = from_settle_index
        stop_event = stop_event or threading.Event()
        while not stop_event.is_set():
            try:
                answer = self.call("waitanyinvoice", {"lastpay_index": cursor, "timeout": 1}, timeout=self.timeout + 2)
            except ClnRpcError as exc:
                if exc.rpc_code == _WAIT_TIMEOUT:
                    continue
                raise
            invoice = self._invoice(answer)
            if invoice.state != InvoiceState.SETTLED or invoice.settle_index <= cursor:
                raise NodeAnswerError("Core Lightning's waitanyinvoice answered with an invoice out of order")
            cursor = invoice.settle_index
            yield invoice

    # --- payments -------------------------------------------------------------------------------
    def _pay_result(self, data: dict, payment_hash: str) -> PaymentResult:
        status = data.get("status")
        if status == "complete":
            preimage = data.get("payment_preimage") or data.get("preimage")
            if not isinstance(preimage, str) or len(preimage) != 64:
                raise NodeAnswerError("Core Lightning reported a completed payment without preimage")
            amount = _msat(data.get("amount_msat", 0), "amount_msat")
            sent = _msat(data.get("amount_sent_msat", amount), "amount_sent_msat")
            return PaymentResult(PaymentStatus.SUCCESS, payment_hash, preimage, amount, sent - amount)
        if status == "failed":
            return PaymentResult(PaymentStatus.FAILED, payment_hash, reason="failed")
        if status == "pending":
            return PaymentResult(PaymentStatus.UNKNOWN, payment_hash, reason="pending")
        raise NodeAnswerError(f"Core Lightning sent an unknown payment status {status!r}")

    def network(self) -> str:
        if self._network is None:
            self._network = self.node_info().network
        return self._network

    def pay(self, bolt11, *, fee_limit_msat, timeout, amount_msat=None) -> PaymentResult:
        decoded = decode_bolt11(bolt11, network=self.network())
        amount = require_amount(decoded, amount_msat)
        if fee_limit_msat < 0:
            raise InvalidPaymentRequest("fee limit must not be negative")
        params: dict = {"bolt11": decoded.bolt11, "maxfee": fee_limit_msat, "retry_for": max(1, int(timeout))}
        if decoded.amount_msat is None:
            params["amount_msat"] = amount
        try:
            answer = self.call("pay", params, timeout=timeout)
        except ClnRpcError as exc:
            if exc.rpc_code == _PAY_ALREADY_PAID:
                return self.track_payment(decoded.payment_hash)
            if exc.rpc_code in _PAY_DEFINITE_FAILURES:
                return PaymentResult(PaymentStatus.FAILED, decoded.payment_hash, reason=exc.message)
            return PaymentResult(PaymentStatus.UNKNOWN, decoded.payment_hash, reason=exc.message)
        except NodeUnreachable as exc:
            # The request may be with lightningd: unknown, to be reconciled with listpays.
            return PaymentResult(PaymentStatus.UNKNOWN, decoded.payment_hash, reason=exc.message)
        return self._pay_result(answer, decoded.payment_hash)

    def track_payment(self, payment_hash: str, *, wait: float = 0.0) -> PaymentResult:
        deadline = time.monotonic() + wait
        while True:
            answer = self.call("listpays", {"payment_hash": payment_hash})
            pays = answer.get("pays")
            if not isinstance(pays, list):
                raise NodeAnswerError("Core Lightning sent listpays without pays")
            if not pays:
                return PaymentResult(PaymentStatus.FAILED, payment_hash, reason="payment not initiated")
            results = [self._pay_result(p, payment_hash) for p in pays]
            # Several attempts may exist: one success wins; all failed means failed.
            for wanted in (PaymentStatus.SUCCESS, PaymentStatus.UNKNOWN):
                found = next((r for r in results if r.status == wanted), None)
                if found is not None:
                    break
            else:
                found = results[-1]
            if found.status != PaymentStatus.UNKNOWN or time.monotonic() >= deadline:
                return found
            time.sleep(0.2)

    def decode(self, bolt11: str) -> DecodedPaymentRequest:
        local = decode_bolt11(bolt11, network=self.network())
        answer = self.call("decode", {"string": local.bolt11})
        if answer.get("valid") is False:
            raise InvalidPaymentRequest("Core Lightning says the payment request is not valid")
        if answer.get("payment_hash") != local.payment_hash or answer.get("payee") != local.payee:
            raise NodeAnswerError("Core Lightning decoded the payment request differently from BOLT #11")
        return local

    def node_info(self) -> NodeInfo:
        answer = self.call("getinfo")
        try:
            pubkey = answer["id"]
            if not isinstance(pubkey, str) or len(pubkey) != 66:
                raise ValueError
            network = _NETWORKS.get(answer.get("network", ""), answer.get("network", ""))
            return NodeInfo(
                pubkey=pubkey,
                alias=str(answer.get("alias", "")),
                network=network,
                block_height=int(answer.get("blockheight", 0)),
                synced="warning_bitcoind_sync" not in answer and "warning_lightningd_sync" not in answer,
                version=str(answer.get("version", "")),
            )
        except (KeyError, TypeError, ValueError):
            raise NodeAnswerError("Core Lightning sent a malformed getinfo")

    def balance(self) -> NodeBalance:
        answer = self.call("listfunds")
        channels = answer.get("channels")
        if not isinstance(channels, list):
            raise NodeAnswerError("Core Lightning sent listfunds without channels")
        local = remote = 0
        for channel in channels:
            if not isinstance(channel, dict):
                raise NodeAnswerError("Core Lightning sent a malformed channel")
            if channel.get("state") != "CHANNELD_NORMAL":
                continue
            ours = _msat(channel.get("our_amount_msat", 0), "our_amount_msat")
            total = _msat(channel.get("amount_msat", 0), "amount_msat")
            local += ours
            remote += total - ours
        return NodeBalance(local_msat=local, remote_msat=remote)
