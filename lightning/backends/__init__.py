"""Lightning node backends (LND gRPC, Core Lightning JSON-RPC) behind one interface."""
from lightning.backends.base import (
    InvoiceState,
    LightningBackend,
    NodeBalance,
    NodeInfo,
    NodeInvoice,
    PaymentResult,
    PaymentStatus,
)

__all__ = [
    "InvoiceState",
    "LightningBackend",
    "NodeBalance",
    "NodeInfo",
    "NodeInvoice",
    "PaymentResult",
    "PaymentStatus",
]
