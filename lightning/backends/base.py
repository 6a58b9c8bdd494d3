"""The one interface every Lightning backend implements, and the values it returns."""
from __future__ import annotations

import abc
import enum
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from lightning.bolt11_helpers import DecodedPaymentRequest


class InvoiceState(enum.StrEnum):
    OPEN = "open"
    SETTLED = "settled"
    CANCELED = "canceled"


class PaymentStatus(enum.StrEnum):
    SUCCESS = "success"
    FAILED = "failed"
    # The node may still complete the payment: keep the money reserved until reconciled.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class NodeInvoice:
    """An invoice as the node reports it."""

    payment_hash: str
    bolt11: str
    amount_msat: int | None
    state: InvoiceState
    memo: str = ""
    description_hash: str = ""
    created_at: int = 0
    expires_at: int = 0
    settled_at: int | None = None
    settle_index: int = 0
    amount_received_msat: int = 0
    preimage: str = ""


@dataclass(frozen=True)
class PaymentResult:
    status: PaymentStatus
    payment_hash: str
    preimage: str = ""
    amount_msat: int = 0
    fee_msat: int = 0
    reason: str = ""


@dataclass(frozen=True)
class NodeInfo:
    pubkey: str
    alias: str
    network: str
    block_height: int
    synced: bool
    version: str


@dataclass(frozen=True)
class NodeBalance:
    local_msat: int
    remote_msat: int
    pending_local_msat: int = 0


class LightningBackend(abc.ABC):
    """What FlashPay needs from a Lightning node. Payments are matched by payment hash only."""

    @abc.abstractmethod
    def create_invoice(
        self,
        *,
        amount_msat: int | None,
        memo: str = "",
        description: str | None = None,
        description_hash: bytes | None = None,
        expiry: int = 3600,
    ) -> NodeInvoice:
        """A new invoice. `description` (e.g. LNURL-pay metadata) is committed to by its hash."""

    @abc.abstractmethod
    def lookup_invoice(self, payment_hash: str) -> NodeInvoice: ...

    @abc.abstractmethod
    def cancel_invoice(self, payment_hash: str) -> InvoiceState:
        """Make an open invoice unpayable; returns its state afterwards: CANCELED (also when it
        already was) or SETTLED when it was paid first (nothing canceled). InvoiceNotFound when
        the node does not know it."""

    @abc.abstractmethod
    def stream_settled(
        self, *, from_settle_index: int, stop_event: threading.Event | None = None
    ) -> Iterator[NodeInvoice]:
        """Settled invoices with settle_index > from_settle_index, then new ones as they settle.

        Ends when `stop_event` is set; raises NodeUnreachable when the node goes away.
        """

    @abc.abstractmethod
    def pay(
        self,
        bolt11: str,
        *,
        fee_limit_msat: int,
        timeout: float,
        amount_msat: int | None = None,
    ) -> PaymentResult:
        """Pay; UNKNOWN when no final answer came within `timeout` (track it later)."""

    @abc.abstractmethod
    def track_payment(self, payment_hash: str, *, wait: float = 0.0) -> PaymentResult:
        """The state of an outgoing payment; waits up to `wait` s for a final state."""

    @abc.abstractmethod
    def decode(self, bolt11: str) -> DecodedPaymentRequest: ...

    @abc.abstractmethod
    def node_info(self) -> NodeInfo: ...

    def node_pubkey(self) -> str:
        """The node's identity key (the payee of every invoice it mints), asked once per backend.

        Lets invoice creation record the payee without decoding the BOLT11 it was just handed.
        """
        pubkey = getattr(self, "_node_pubkey", None)
        if pubkey is None:
            pubkey = self._node_pubkey = self.node_info().pubkey
        return pubkey

    @abc.abstractmethod
    def balance(self) -> NodeBalance: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
