"""Errors raised by the Lightning layer: all are ApplicationErrors with a clear code and message."""
from __future__ import annotations

from flashpay.errors import ApplicationError


class LightningError(ApplicationError):
    """Something went wrong talking to the Lightning node."""

    code = "lightning-error"
    status_code = 502


class ConnectionStringError(LightningError):
    """The Lightning connection string (BTCPay syntax) or its env config is malformed."""

    code = "invalid-lightning-connection-string"
    status_code = 400


class NodeUnreachable(LightningError):
    """The node cannot be reached (refused, timed out, closed socket)."""

    code = "lightning-node-unreachable"
    status_code = 503


class NodeTLSError(LightningError):
    """TLS with the node failed: wrong certificate or thumbprint."""

    code = "lightning-node-tls"
    status_code = 502


class NodeAuthError(LightningError):
    """The node refused our credentials (macaroon, rune)."""

    code = "lightning-node-auth"
    status_code = 502


class NodeAnswerError(LightningError):
    """The node answered something we cannot make sense of."""

    code = "lightning-node-bad-answer"
    status_code = 502


class InvoiceNotFound(LightningError):
    code = "lightning-invoice-not-found"
    status_code = 404


class InvalidPaymentRequest(LightningError):
    """A BOLT11 string that does not decode, has a bad signature or is for another network."""

    code = "invalid-payment-request"
    status_code = 400
