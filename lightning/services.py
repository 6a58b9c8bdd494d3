"""Writes of the lightning app: invoices on our node and the idempotent record of settlements.

Other apps reach lightning only through this module and ``lightning.selectors``. Besides the
services below they find here, re-exported (``import X as X``), the node interface they call
(``LightningBackend`` and its answers ``InvoiceState``, ``PaymentResult``, ``PaymentStatus``), the
errors of a node call (``LightningError``, ``InvalidPaymentRequest``, ``ConnectionStringError``)
and the node clients of ``lightning.clients`` (``server_node_client``, ``store_node_client``,
``lightning_client_open``).
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone

from flashpay.errors import Conflict, FieldError
from flashpay.events.services import event_emit
from lightning.backends.base import InvoiceState as InvoiceState
from lightning.backends.base import LightningBackend as LightningBackend
from lightning.backends.base import NodeInvoice
from lightning.backends.base import PaymentResult as PaymentResult
from lightning.backends.base import PaymentStatus as PaymentStatus
from lightning.clients import lightning_client_open as lightning_client_open
from lightning.clients import server_node_client as server_node_client
from lightning.clients import store_node_client as store_node_client
from lightning.errors import ConnectionStringError as ConnectionStringError
from lightning.errors import InvalidPaymentRequest as InvalidPaymentRequest
from lightning.errors import InvoiceNotFound, NodeAnswerError, NodeUnreachable
from lightning.errors import LightningError as LightningError
from lightning.locks import invoice_lock, settle_cursor_lock
from lightning.models import LightningInvoice
from lightning.selectors import lightning_invoices_open, lightning_settle_cursor_get
from lightning.sql import INSERT_INVOICE

logger = logging.getLogger(__name__)

INVOICE_SETTLED_EVENT = "lightning.invoice.settled"
MAX_EXPIRY_SECONDS = 365 * 24 * 3600


def _aware(timestamp: int | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC) if timestamp else None


def lightning_invoice_create(
    *,
    backend: LightningBackend,
    amount_msat: int | None,
    memo: str = "",
    description: str | None = None,
    expiry: int = 3600,
) -> LightningInvoice:
    """Mint an invoice on the node and keep its row. `description` is committed to by hash."""
    if amount_msat is not None and (isinstance(amount_msat, bool) or not isinstance(amount_msat, int) or amount_msat <= 0):
        raise FieldError("amount_msat", "must be a positive whole number of msat, or empty for any amount")
    if not isinstance(expiry, int) or not 0 < expiry <= MAX_EXPIRY_SECONDS:
        raise FieldError("expiry", f"must be between 1 and {MAX_EXPIRY_SECONDS} seconds")
    if len(memo.encode()) > 639:
        raise FieldError("memo", "must be at most 639 bytes (BOLT #11 description field)")
    # No transaction around the node call: a row exists only for an invoice the node has.
    invoice = backend.create_invoice(amount_msat=amount_msat, memo=memo, description=description, expiry=expiry)
    # Our node minted it with what we asked: no BOLT11 decode (the costliest step of creation).
    row = LightningInvoice(
        node_pubkey=backend.node_pubkey(),
        payment_hash=invoice.payment_hash,
        bolt11=invoice.bolt11,
        amount_msat=amount_msat,
        memo=memo,
        description_hash=invoice.description_hash,
        expires_at=_aware(invoice.expires_at),
    )
    # Field checks only; the check constraints hold in the database (each would cost a query).
    row.full_clean(validate_unique=False, validate_constraints=False)
    try:
        if transaction.get_connection().in_atomic_block:
            # A savepoint, so a lost race leaves the caller's transaction usable.
            with transaction.atomic():
                INSERT_INVOICE.execute([row])
        else:
            # Autocommit: one INSERT, no BEGIN/COMMIT round trips (the invoice creation path).
            INSERT_INVOICE.execute([row])
    except IntegrityError:
        # Paid so fast that the settlement recorder wrote the row first.
        return LightningInvoice.objects.get(payment_hash=invoice.payment_hash)
    return row


@transaction.atomic
def lightning_invoice_record_settled(
    *, node_pubkey: str, invoice: NodeInvoice, advance_cursor: bool = True
) -> tuple[LightningInvoice, bool]:
    """Record one settlement and its outbox event; the cursor moves in the same transaction.

    Idempotent by payment hash: a replayed settlement changes nothing and emits nothing.
    Returns the row and whether this call recorded the settlement.
    """
    if invoice.state != InvoiceState.SETTLED or invoice.settle_index <= 0:
        raise ValueError("only settled invoices with a settle index are recorded")
    cursor = settle_cursor_lock(node_pubkey=node_pubkey)
    row = invoice_lock(payment_hash=invoice.payment_hash)
    received = invoice.amount_received_msat or invoice.amount_msat or 0
    settled_at = _aware(invoice.settled_at) or timezone.now()
    recorded = False
    if row is None:
        # Settled on our node but not minted through FlashPay (or our row write was lost):
        # the money arrived, so it is recorded all the same.
        row = LightningInvoice(
            node_pubkey=node_pubkey,
            payment_hash=invoice.payment_hash,
            bolt11=invoice.bolt11,
            amount_msat=invoice.amount_msat,
            memo=invoice.memo[:639],
            description_hash=invoice.description_hash,
            expires_at=_aware(invoice.expires_at) or settled_at,
            status=LightningInvoice.Status.SETTLED,
            settle_index=invoice.settle_index,
            amount_received_msat=received,
            preimage=invoice.preimage,
            settled_at=settled_at,
        )
        # the unique payment hash holds in the database (checking it here would cost a query)
        row.full_clean(exclude=["payment_hash"], validate_unique=False)
        row.save(force_insert=True)
        recorded = True
    elif row.status != LightningInvoice.Status.SETTLED:
        row.status = LightningInvoice.Status.SETTLED
        row.settle_index = invoice.settle_index
        row.amount_received_msat = received
        row.preimage = invoice.preimage
        row.settled_at = settled_at
        row.full_clean(exclude=["payment_hash"], validate_unique=False)
        row.save(update_fields=["status", "settle_index", "amount_received_msat", "preimage", "settled_at", "updated_at"])
        recorded = True
    elif row.settled_internally and row.settle_index is None:
        # Paid by a card inside the ledger and now over Lightning as well: the node holds money
        # nobody is credited for. Not recorded twice; an operator has to refund it.
        logger.warning(
            "lightning: invoice %s was settled internally and paid again over Lightning (%s msat)",
            row.payment_hash,
            received,
        )
    if recorded:
        event_emit(
            type=INVOICE_SETTLED_EVENT,
            aggregate_type="lightning_invoice",
            aggregate_id=row.payment_hash,
            payload={
                "payment_hash": row.payment_hash,
                "node_pubkey": node_pubkey,
                "amount_msat": row.amount_msat,
                "amount_received_msat": received,
                "settle_index": invoice.settle_index,
                "settled_at": int(settled_at.timestamp()),
            },
            idempotency_key=f"{INVOICE_SETTLED_EVENT}:{row.payment_hash}",
        )
    if advance_cursor and invoice.settle_index > cursor.settle_index:
        cursor.settle_index = invoice.settle_index
        cursor.full_clean(validate_unique=False)
        cursor.save(update_fields=["settle_index", "updated_at"])
    return row, recorded


def lightning_invoices_reconcile(
    *,
    backend: LightningBackend,
    node_pubkey: str,
    on_recorded: Callable[[LightningInvoice], None] | None = None,
    expires_after: dt.datetime | None = None,
) -> list[LightningInvoice]:
    """Look up every open invoice on the node and record those that settled; returns them.

    Does not move the settle cursor: invoices settled in between that we did not look up must
    still come through the stream. `expires_after` skips invoices that expired before then.
    """
    settled = []
    open_invoices = lightning_invoices_open(node_pubkey=node_pubkey, expires_after=expires_after)
    for payment_hash in list(open_invoices.values_list("payment_hash", flat=True)):
        invoice = backend.lookup_invoice(payment_hash)
        if invoice.state == InvoiceState.SETTLED:
            row, recorded = lightning_invoice_record_settled(node_pubkey=node_pubkey, invoice=invoice, advance_cursor=False)
            if recorded:
                settled.append(row)
                if on_recorded is not None:
                    on_recorded(row)
        elif invoice.state == InvoiceState.CANCELED:
            lightning_invoice_mark_canceled(payment_hash=payment_hash)
    return settled


@transaction.atomic
def lightning_invoice_mark_canceled(*, payment_hash: str) -> LightningInvoice | None:
    """The node canceled (or expired) an open invoice: it can no longer be paid."""
    row = invoice_lock(payment_hash=payment_hash)
    if row is None or row.status != LightningInvoice.Status.OPEN:
        return row
    row.status = LightningInvoice.Status.CANCELED
    row.full_clean(exclude=["payment_hash"], validate_unique=False)
    row.save(update_fields=["status", "updated_at"])
    return row


def lightning_sync_settled(
    *,
    backend: LightningBackend,
    stop_event: threading.Event | None = None,
    on_recorded: Callable[[LightningInvoice], None] | None = None,
) -> int:
    """Follow the node's settled invoices from the stored cursor and record each one.

    Runs until `stop_event` is set (or the node goes away: NodeUnreachable propagates so the
    watcher can reconnect). A crash at any point loses nothing and duplicates nothing: each
    settlement and the cursor move commit together, and replays are no-ops. Returns how many
    settlements this run recorded; `on_recorded` is called after each one commits.
    """
    count = 0

    def recorded(row: LightningInvoice) -> None:
        nonlocal count
        count += 1
        if on_recorded is not None:
            on_recorded(row)

    node_pubkey = backend.node_info().pubkey
    from_index = lightning_settle_cursor_get(node_pubkey=node_pubkey)
    stream = backend.stream_settled(from_settle_index=from_index, stop_event=stop_event)
    try:
        catching_up = from_index == 0
        if catching_up:
            # LND does not replay settlements for index 0: catch up on our open invoices now...
            lightning_invoices_reconcile(backend=backend, node_pubkey=node_pubkey, on_recorded=recorded)
        for invoice in stream:
            row, is_new = lightning_invoice_record_settled(node_pubkey=node_pubkey, invoice=invoice)
            if is_new:
                logger.info("lightning: invoice %s settled (settle index %s)", invoice.payment_hash, invoice.settle_index)
                recorded(row)
            if catching_up:
                # ...and once more when the first live settlement proves the subscription is in
                # place: whatever settled while it was being set up has a lower index and is never
                # streamed, since the cursor has just moved past it.
                catching_up = False
                lightning_invoices_reconcile(backend=backend, node_pubkey=node_pubkey, on_recorded=recorded)
    finally:
        # End the subscription now, whatever ended the run, rather than whenever it is collected.
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return count


def lightning_follow_settled(
    *,
    backend: LightningBackend,
    stop_event: threading.Event,
    retry_seconds: float = 1.0,
    max_retry_seconds: float = 30.0,
) -> int:
    """lightning_sync_settled until `stop_event`, reconnecting with backoff when the node is away.

    What the watcher runs for Lightning. Returns the settlements recorded over all runs.
    """
    total = 0
    delay = retry_seconds

    def recorded(_row: LightningInvoice) -> None:
        nonlocal total, delay
        total += 1
        delay = retry_seconds  # the node is back

    while not stop_event.is_set():
        try:
            lightning_sync_settled(backend=backend, stop_event=stop_event, on_recorded=recorded)
        except (NodeUnreachable, NodeAnswerError) as exc:
            logger.warning("lightning: settlement stream interrupted (%s); retrying in %.1fs", exc.message, delay)
            stop_event.wait(delay)
            delay = min(delay * 2, max_retry_seconds)
    return total


def lightning_invoice_settle_internally(*, payment_hash: str, amount_msat: int) -> LightningInvoice:
    """Mark an open invoice of our node as paid from inside FlashPay (a Flash Card paid it in the
    ledger), without the node, and emit the same settled event the watcher emits.

    Must run inside the caller's transaction (the one that moves the money). The event shares
    the watcher's idempotency key, and the recorder skips rows already settled, so if the node
    is later paid for the same invoice as well nothing is credited twice.
    Raises Conflict when the invoice is unknown, not open, expired or for another amount.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lightning_invoice_settle_internally must run inside transaction.atomic()")
    if isinstance(amount_msat, bool) or not isinstance(amount_msat, int) or amount_msat <= 0:
        raise FieldError("amount_msat", "must be a positive whole number of msat")
    row = invoice_lock(payment_hash=payment_hash)
    if row is None:
        raise Conflict("this invoice was not made by FlashPay's node", code="invoice-unknown")
    if row.status != LightningInvoice.Status.OPEN:
        raise Conflict(f"this invoice is {row.status}", code="invoice-not-open")
    now = timezone.now()
    if row.expires_at <= now:
        raise Conflict("this invoice has expired", code="invoice-expired")
    if row.amount_msat is not None and row.amount_msat != amount_msat:
        raise Conflict("the amount differs from the invoice's amount", code="invoice-amount-mismatch")
    row.status = LightningInvoice.Status.SETTLED
    row.settled_internally = True
    row.amount_received_msat = amount_msat
    row.settled_at = now
    # The check constraints are the database's (a card payment's hot path: no extra queries).
    row.full_clean(validate_unique=False, validate_constraints=False)
    row.save(update_fields=["status", "settled_internally", "amount_received_msat", "settled_at", "updated_at"])
    event_emit(
        type=INVOICE_SETTLED_EVENT,
        aggregate_type="lightning_invoice",
        aggregate_id=row.payment_hash,
        payload={
            "payment_hash": row.payment_hash,
            "node_pubkey": row.node_pubkey,
            "amount_msat": row.amount_msat,
            "amount_received_msat": amount_msat,
            "settle_index": None,
            "settled_at": int(now.timestamp()),
            "internal": True,
        },
        idempotency_key=f"{INVOICE_SETTLED_EVENT}:{row.payment_hash}",
    )
    return row


def lightning_invoice_cancel_on_node(*, backend: LightningBackend, payment_hash: str) -> InvoiceState:
    """Ask the node to cancel one of its invoices so it can no longer be paid over Lightning
    (LND invoicesrpc.CancelInvoice, CLN delinvoice); returns the node's state afterwards.

    For an invoice already settled inside FlashPay (a Flash Card paid it): closes the window in
    which the same BOLT11 could also be paid on the node. A node call, so never inside a
    transaction. An invoice the node does not know cannot be paid either: CANCELED. SETTLED means
    the node was paid first; the recorder still credits nothing twice (settled rows are skipped).
    Our own row keeps its status (settled inside FlashPay stays settled).
    """
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("lightning_invoice_cancel_on_node calls the node: not inside a transaction")
    try:
        state = backend.cancel_invoice(payment_hash)
    except InvoiceNotFound:
        return InvoiceState.CANCELED
    if state == InvoiceState.SETTLED:
        logger.warning("lightning: invoice %s was paid on the node before it could be canceled", payment_hash)
    return state
