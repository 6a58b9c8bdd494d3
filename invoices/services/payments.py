"""Payments to invoices, from the watcher's on-chain and Lightning events, and what they do to the invoice status.

Matching: on-chain by address (each invoice has its own), Lightning by payment hash only (never
by amount or time). Recording is idempotent by the payment's natural key (txid-vout, payment
hash), so a redelivered event changes nothing.
"""
from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from flashpay.ledger.accounts import merchant_account, node_account
from flashpay.ledger.services import transaction_post
from invoices.locks import invoice_lock
from invoices.models import (
    Invoice,
    InvoiceAdditionalStatus,
    InvoiceLnurlInvoice,
    InvoicePayment,
    InvoicePaymentPrompt,
    InvoicePaymentStatus,
    InvoiceStatus,
    InvoiceType,
    PaymentMethodId,
)
from invoices.onchain.selectors import onchain_cursor_get
from invoices.selectors import invoice_needed_msat, invoice_paid, required_confirmations
from invoices.services.remainder import invoice_lightning_remainder_queue
from invoices.services.state import (
    EVENT_PAYMENT_SETTLED,
    EVENT_PAYMENT_UNDONE,
    EVENT_RECEIVED_PAYMENT,
    emit_payment,
    invoice_transition,
)

S = InvoiceStatus
A = InvoiceAdditionalStatus
P = InvoicePaymentStatus
WATCHER = "watcher"


def invoice_expire_if_due(*, invoice: Invoice, now=None, actor: str = "system") -> Invoice:
    """New -> Expired once the expiration time passed (invoice LOCKED by the caller)."""
    now = now or timezone.now()
    if invoice.status != S.NEW or invoice.expires_at > now:
        return invoice
    paid = invoice_paid(invoice=invoice)
    partially = paid.accounted_msat > 0
    return invoice_transition(
        invoice=invoice,
        status=S.EXPIRED,
        additional_status=A.PAID_PARTIAL if partially else A.NONE,
        actor=actor,
        reason="expired with money still due" if partially else "expired unpaid",
        partially_paid=partially,
    )


def invoice_monitoring_end_if_due(*, invoice: Invoice, now=None, actor: str = "system") -> Invoice:
    """Monitoring over with money still due -> Invalid (invoice LOCKED by the caller).

    Processing (paid, but not confirmed in time) and Expired with a partial payment both become
    Invalid; an unpaid Expired invoice simply stays Expired.
    """
    now = now or timezone.now()
    if invoice.monitoring_expires_at > now or invoice.additional_status == A.MARKED:
        return invoice
    if invoice.status == S.PROCESSING:
        return invoice_transition(
            invoice=invoice, status=S.INVALID, additional_status=invoice.additional_status,
            actor=actor, reason="payments not confirmed before monitoring ended",
        )
    if invoice.status == S.EXPIRED and invoice.additional_status == A.PAID_PARTIAL:
        return invoice_transition(
            invoice=invoice, status=S.INVALID, additional_status=A.PAID_PARTIAL,
            actor=actor, reason="monitoring ended with money still due",
        )
    return invoice


def invoice_evaluate(*, invoice: Invoice, actor: str, reason: str) -> Invoice:
    """Apply the payments to a LOCKED invoice's status (DESIGN.md "Invoices").

    Paid in full net of tolerance -> Processing; all of it confirmed -> Settled; underpaid ->
    PaidPartial; more than due -> PaidOver; paid after expiry -> stays Expired with PaidLate.
    A manually marked invoice keeps its mark.
    """
    if invoice.additional_status == A.MARKED:
        return invoice
    payments = list(invoice.payments.all())
    paid = invoice_paid(invoice=invoice, payments=payments)
    needed = invoice_needed_msat(invoice)
    full = paid.accounted_msat > 0 and paid.accounted_msat >= needed
    confirmed = paid.settled_msat > 0 and paid.settled_msat >= needed
    if invoice.type == InvoiceType.TOP_UP:
        # any amount is the full amount, so it settles once everything that came is confirmed
        confirmed = confirmed and paid.settled_msat == paid.accounted_msat
    over = invoice.amount_msat is not None and paid.accounted_msat > invoice.amount_msat
    paid_extra = A.PAID_OVER if over else A.NONE

    if invoice.status in (S.NEW, S.PROCESSING):
        if full:
            if invoice.status == S.NEW or invoice.additional_status != paid_extra:
                invoice_transition(
                    invoice=invoice, status=S.PROCESSING, additional_status=paid_extra,
                    actor=actor, reason=reason, over_paid=over,
                )
            if confirmed:
                invoice_transition(
                    invoice=invoice, status=S.SETTLED, additional_status=paid_extra,
                    actor=actor, reason=reason, over_paid=over,
                )
        else:
            invoice_transition(
                invoice=invoice, status=S.NEW,
                additional_status=A.PAID_PARTIAL if paid.accounted_msat > 0 else A.NONE,
                actor=actor, reason=reason,
            )
    elif invoice.status == S.EXPIRED:
        if any(p.after_expiration and p.status != P.INVALID for p in payments):
            invoice_transition(invoice=invoice, status=S.EXPIRED, additional_status=A.PAID_LATE, actor=actor, reason=reason)
    elif invoice.status == S.SETTLED and not full:
        # A payment it was settled with left the chain (reorg, double spend): what it holds is
        # no longer paid. Only a removal lowers what is accounted; a payment merely unconfirmed
        # again stays accounted, and the invoice stays Settled while it waits to confirm again.
        invoice_transition(
            invoice=invoice, status=S.INVALID,
            additional_status=A.PAID_PARTIAL if paid.accounted_msat > 0 else A.NONE,
            actor=actor, reason=reason,
        )
    elif invoice.status == S.SETTLED and over and invoice.additional_status == A.NONE:
        invoice_transition(invoice=invoice, status=S.SETTLED, additional_status=A.PAID_OVER, actor=actor, reason=reason)
    elif invoice.status == S.INVALID and confirmed and _invalidated_by_watcher(invoice):
        # The removed payment came back and confirmed (the other branch of a reorg won again).
        invoice_transition(
            invoice=invoice, status=S.SETTLED, additional_status=paid_extra,
            actor=actor, reason=reason, over_paid=over,
        )
    return invoice


def _invalidated_by_watcher(invoice: Invoice) -> bool:
    """Whether the invoice is Invalid because a payment left the chain (not by hand, nor because
    monitoring ended), so a payment that comes back may settle it again."""
    last = invoice.events.order_by("-pk").first()
    return last is not None and last.to_status == S.INVALID and last.from_status == S.SETTLED and last.actor == WATCHER


def _upsert_payment(
    *, invoice: Invoice, prompt: InvoicePaymentPrompt, payment_id: str, amount_msat: int, status: str,
    block_height: int | None,
) -> tuple[InvoicePayment, bool]:
    """Create or update the payment row and emit its webhook events; returns (payment, changed)."""
    payment = InvoicePayment.objects.select_for_update(no_key=True, of=("self",)).filter(payment_id=payment_id).first()
    now = timezone.now()
    if payment is None:
        payment = InvoicePayment(
            invoice=invoice,
            prompt=prompt,
            payment_method_id=prompt.payment_method_id,
            payment_id=payment_id,
            amount_msat=amount_msat,
            status=status,
            block_height=block_height,
            after_expiration=invoice.status in (S.EXPIRED, S.INVALID),
        )
        payment.full_clean(exclude=["invoice", "prompt"], validate_unique=False, validate_constraints=False)
        payment.save(force_insert=True)
        if status != P.INVALID:
            emit_payment(invoice, payment, EVENT_RECEIVED_PAYMENT)
        if status == P.SETTLED:
            emit_payment(invoice, payment, EVENT_PAYMENT_SETTLED)
        return payment, True
    if (payment.status, payment.block_height) == (status, block_height):
        return payment, False
    before = payment.status
    became_settled = status == P.SETTLED and before != P.SETTLED
    # Counted money taken back: a settled payment no longer settled, or any payment invalidated.
    undone = (before == P.SETTLED and status != P.SETTLED) or (before != P.INVALID and status == P.INVALID)
    payment.status = status
    payment.block_height = block_height
    payment.updated_at = now
    if undone:
        payment.undone_count += 1
    payment.full_clean(exclude=["invoice", "prompt"], validate_unique=False, validate_constraints=False)
    payment.save(update_fields=["status", "block_height", "updated_at", "undone_count"])
    if undone:
        emit_payment(
            invoice, payment, EVENT_PAYMENT_UNDONE, previousStatus=before,
            reason="removed" if status == P.INVALID else "unconfirmed",
        )
    if became_settled:
        emit_payment(invoice, payment, EVENT_PAYMENT_SETTLED)
    return payment, True


def _chain_status(*, invoice: Invoice, chain_status: str, block_height: int | None, tip_height: int | None) -> str:
    if chain_status == "removed":
        return P.INVALID
    needed = required_confirmations(invoice.speed_policy)
    confirmations = 0
    if chain_status == "confirmed" and block_height is not None and tip_height is not None:
        confirmations = max(tip_height - block_height + 1, 0)
    return P.SETTLED if confirmations >= needed else P.PROCESSING


def _tip_height(block_height: int | None) -> int | None:
    cursor = onchain_cursor_get(wallet=settings.BITCOIND_WALLET or "")
    heights = [h for h in (cursor.block_height if cursor else None, block_height) if h is not None]
    return max(heights) if heights else None


def invoice_payment_onchain_record(
    *, address: str, txid: str, vout: int, amount_msat: int, chain_status: str, block_height: int | None
) -> InvoicePayment | None:
    """Record what the on-chain watcher saw for an output paying an invoice address (None if no invoice)."""
    prompt = InvoicePaymentPrompt.objects.filter(address=address, payment_method_id=PaymentMethodId.BTC_CHAIN).first()
    if prompt is None:
        return None
    with transaction.atomic():
        invoice = invoice_lock(invoice_id=prompt.invoice_id)
        invoice_expire_if_due(invoice=invoice)
        status = _chain_status(
            invoice=invoice, chain_status=chain_status, block_height=block_height,
            tip_height=_tip_height(block_height),
        )
        payment, changed = _upsert_payment(
            invoice=invoice, prompt=prompt, payment_id=f"{txid}-{vout}", amount_msat=amount_msat,
            status=status, block_height=block_height if chain_status == "confirmed" else None,
        )
        if changed:
            invoice_evaluate(invoice=invoice, actor=WATCHER, reason=f"on-chain payment {txid}:{vout} {chain_status}")
            # still New with money due: a BOLT11 for the rest, minted by a task after commit
            invoice_lightning_remainder_queue(invoice=invoice)
    return payment


def invoice_payments_confirm(*, tip_height: int) -> int:
    """At a new chain tip, settle on-chain payments that now have the confirmations their invoice needs."""
    count = 0
    pending = (
        InvoicePayment.objects.filter(
            status=P.PROCESSING, payment_method_id=PaymentMethodId.BTC_CHAIN, block_height__isnull=False
        )
        .values_list("invoice_id", flat=True)
        .distinct()
    )
    for invoice_id in sorted(set(pending)):
        with transaction.atomic():
            invoice = invoice_lock(invoice_id=invoice_id)
            needed = required_confirmations(invoice.speed_policy)
            changed = False
            for payment in invoice.payments.select_for_update(no_key=True, of=("self",)).filter(
                status=P.PROCESSING, block_height__isnull=False
            ):
                if tip_height - payment.block_height + 1 >= needed:
                    _upsert_payment(
                        invoice=invoice, prompt=payment.prompt, payment_id=payment.payment_id,
                        amount_msat=payment.amount_msat, status=P.SETTLED, block_height=payment.block_height,
                    )
                    changed = True
                    count += 1
            if changed:
                invoice_evaluate(invoice=invoice, actor=WATCHER, reason=f"confirmations at height {tip_height}")
    return count


def invoice_payment_lightning_record(*, payment_hash: str, amount_received_msat: int) -> InvoicePayment | None:
    """Record a settled Lightning invoice (matched by payment hash only; None if no invoice).

    On the server's node the merchant's ledger account is credited node -> merchant exactly once
    (ledger idempotency key = the payment hash), in the same transaction as the payment row.
    """
    prompt = InvoicePaymentPrompt.objects.filter(payment_hash=payment_hash, payment_method_id=PaymentMethodId.BTC_LN).first()
    if prompt is None:
        # a BOLT11 minted by an LNURL-pay callback of the invoice
        lnurl = InvoiceLnurlInvoice.objects.select_related("prompt").filter(payment_hash=payment_hash).first()
        prompt = lnurl.prompt if lnurl is not None else None
    if prompt is None or amount_received_msat <= 0:
        return None
    with transaction.atomic():
        invoice = invoice_lock(invoice_id=prompt.invoice_id)
        invoice_expire_if_due(invoice=invoice)
        payment, changed = _upsert_payment(
            invoice=invoice, prompt=prompt, payment_id=payment_hash, amount_msat=amount_received_msat,
            status=P.SETTLED, block_height=None,
        )
        if prompt.internal_node:
            # The server's node in the ledger: the same account card payments go through.
            node = node_account()
            merchant = merchant_account(store_id=invoice.store_id)
            transaction_post(
                entries=[(node, -payment.amount_msat), (merchant, payment.amount_msat)],
                idempotency_key=payment_hash,
                description=f"Lightning payment to invoice {invoice.pk}",
                metadata={"invoiceId": invoice.pk, "storeId": invoice.store_id},
            )
        if changed:
            invoice_evaluate(invoice=invoice, actor=WATCHER, reason=f"lightning payment {payment_hash} settled")
            invoice_lightning_remainder_queue(invoice=invoice)
    return payment


def invoice_own_node_payments_sync(*, limit: int = 500) -> int:
    """Ask merchants' own Lightning nodes about their open invoice BOLT11s; record the settled ones.

    The watcher follows only the server's node; an invoice minted on a merchant's node (BTC-LN
    with a connection string) is looked up here by payment hash. Node calls happen with no
    transaction open; recording is idempotent. Returns how many payments were recorded.
    """
    from invoices.models import StorePaymentMethod
    from invoices.services.store_payment_methods import connection_string_open
    from lightning.services import InvoiceState, LightningError, store_node_client

    now = timezone.now()
    prompts = list(
        InvoicePaymentPrompt.objects.filter(
            payment_method_id=PaymentMethodId.BTC_LN,
            internal_node=False,
            payments__isnull=True,
            node_canceled_at__isnull=True,  # a replaced BOLT11 the node canceled cannot be paid
            invoice__status__in=[S.NEW, S.EXPIRED],
            invoice__monitoring_expires_at__gt=now,
        )
        .select_related("invoice")
        .order_by("pk")[:limit]
    )
    lnurl_invoices = list(
        InvoiceLnurlInvoice.objects.filter(
            prompt__internal_node=False,
            prompt__invoice__status__in=[S.NEW, S.EXPIRED],
            prompt__invoice__monitoring_expires_at__gt=now,
        )
        .exclude(payment_hash__in=InvoicePayment.objects.values("payment_id"))
        .select_related("prompt__invoice")
        .order_by("pk")[:limit]
    )
    # (store id, payment hash) of every BOLT11 to ask the merchant's node about
    wanted = [(p.invoice.store_id, p.payment_hash) for p in prompts]
    wanted += [(row.prompt.invoice.store_id, row.payment_hash) for row in lnurl_invoices]
    recorded = 0
    methods: dict[str, StorePaymentMethod | None] = {}
    for store_id, payment_hash in wanted:
        if store_id not in methods:
            methods[store_id] = StorePaymentMethod.objects.filter(
                store_id=store_id, payment_method_id=PaymentMethodId.BTC_LN, internal_node=False
            ).first()
        method = methods[store_id]
        if method is None:
            continue  # the merchant removed the node; nothing to ask
        try:
            node_invoice = store_node_client(connection_string=connection_string_open(method=method)).lookup_invoice(
                payment_hash
            )
        except LightningError:
            continue  # node away or invoice unknown there: asked again on the next run
        if node_invoice.state == InvoiceState.SETTLED:
            amount = node_invoice.amount_received_msat or node_invoice.amount_msat or 0
            if invoice_payment_lightning_record(payment_hash=payment_hash, amount_received_msat=amount):
                recorded += 1
    return recorded
