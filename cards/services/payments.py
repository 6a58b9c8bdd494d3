"""Card payments: the LNURL-withdraw callback pays an invoice from the card that tapped (LUD-03).

``card_withdraw`` is the wallet's ``?k1=&pr=`` callback for the offer a tap made
(``cards.services.taps.card_tap``). The BOLT11 is checked (network, expiry, amount present and
within bounds), the k1 is spent and the card reserved under the card's row lock (so limits and
balance hold under concurrency), then:

- the invoice is one of our node's (a FlashPay merchant): settled inside the ledger in the same
  transaction (card -> node, invoice recorded settled; the invoices app credits node -> merchant
  on the settled event); the node is not called for the payment, only told after commit to
  cancel the invoice (``card_payment_node_invoice_cancel``), so the same BOLT11 cannot be paid
  over Lightning as well;
- otherwise a hold card -> node (amount + fee limit) is committed BEFORE the node is called;
  success posts amount + real fee, failure voids, unknown stays pending until
  ``card_payments_reconcile`` asks the node.

Every refusal raises ``TapRefused`` (rendered ``{"status":"ERROR","reason":...}``) before any
balance changes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from cards.locks import card_lock, card_payment_lock, withdraw_request_lock
from cards.models import Card, CardPayment, WithdrawRequest
from cards.selectors import (
    card_payment_node_cancel_due_list,
    card_payment_pending_list,
    card_spending_room,
    routing_fee_limit_msat,
)
from cards.services.taps import STATUS_REASONS, RateLimited, TapRefused, k1_hash
from flashpay.errors import Conflict, InsufficientFunds
from flashpay.events.broker import task_enqueue
from flashpay.events.services import event_emit
from flashpay.ledger.accounts import card_account, node_account
from flashpay.ledger.services import hold_create, hold_void, transaction_post
from flashpay.ratelimit.services import ratelimit_hit
from invoices.selectors import invoice_merchant_for_payment_hash
from lightning.selectors import (
    bolt11_normalise,
    bolt11_payment_hash_unchecked,
    decode_bolt11,
    lightning_invoice_get,
)
from lightning.services import (
    InvalidPaymentRequest,
    InvoiceState,
    LightningBackend,
    LightningError,
    PaymentResult,
    PaymentStatus,
    lightning_invoice_cancel_on_node,
    lightning_invoice_settle_internally,
    server_node_client,
)

logger = logging.getLogger(__name__)

# Far above any real BOLT11 (even with many route hints); refuses junk before decoding it.
MAX_BOLT11_LENGTH = 4096


CARD_PAYMENT_SUCCEEDED_EVENT = "CardPaymentSucceeded"
CARD_PAYMENT_FAILED_EVENT = "CardPaymentFailed"


def _emit_payment_event(payment: CardPayment) -> None:
    """The outbox event of a finished card payment, in the transaction that finished it (rewards
    earn on it, webhooks and the app hear of it). Once per payment: keyed by the payment hash."""
    event_type = CARD_PAYMENT_SUCCEEDED_EVENT if payment.status == CardPayment.Status.SUCCEEDED else CARD_PAYMENT_FAILED_EVENT
    event_emit(
        type=event_type,
        aggregate_type="card",
        aggregate_id=payment.card.public_id,
        payload={
            "paymentId": payment.public_id,
            "cardId": payment.card.public_id,
            "holderId": payment.card.holder_id,
            "kind": payment.kind,
            "amount_msat": payment.amount_msat,
            "fee_msat": payment.fee_msat,
            "payment_hash": payment.payment_hash,
            "merchantStoreId": payment.merchant_store_id or None,
            "reason": payment.failure_reason,
        },
        idempotency_key=f"{event_type}:{payment.payment_hash}",
    )


# --- callback -------------------------------------------------------------------------------


def _merchant_of(payment_hash: str) -> tuple[str, str]:
    """(store id, store name) of the FlashPay merchant whose invoice this is, asked of the invoices
    app; ("", "") for an invoice of our node that no store's invoice carries (named later, if
    ever, by ``card_payment_merchants_resolve``)."""
    merchant = invoice_merchant_for_payment_hash(payment_hash=payment_hash)
    if merchant is None:
        return "", ""
    return merchant.store_id, merchant.store_name


@dataclass(frozen=True)
class _Invoice:
    """What the callback needs of the invoice to pay."""

    payment_hash: str
    bolt11: str
    amount_msat: int
    description: str
    payee: str = ""


def _check_amount(amount_msat: int | None) -> int:
    if amount_msat is None:
        raise TapRefused("the invoice has no amount; ask for an invoice with an amount", code="invoice-no-amount")
    if amount_msat < settings.CARD_MIN_WITHDRAWABLE_MSAT:
        raise TapRefused("the invoice amount is below the minimum", code="amount-too-small")
    return amount_msat


def _decode(pr: str) -> _Invoice:
    """Full BOLT #11 decode with signature check, network, expiry and amount rules."""
    try:
        decoded = decode_bolt11(pr, network=settings.BITCOIN_NETWORK)
    except InvalidPaymentRequest as exc:
        raise TapRefused(exc.message, code="invalid-invoice")
    if decoded.is_expired():
        raise TapRefused("the invoice has expired", code="invoice-expired")
    return _Invoice(
        payment_hash=decoded.payment_hash,
        bolt11=decoded.bolt11,
        amount_msat=_check_amount(decoded.amount_msat),
        description=decoded.description or "",
        payee=decoded.payee,
    )


def _invoice_to_pay(pr: str) -> tuple[_Invoice, object | None]:
    """The invoice behind ``pr`` and our node's row for it (None for anyone else's invoice).

    An invoice of our own node, presented exactly as the node issued it, is taken from our row
    (same network, amount and expiry as minted): the slow signature check adds nothing there.
    """
    text = bolt11_normalise(pr)
    hint = bolt11_payment_hash_unchecked(text)
    row = lightning_invoice_get(payment_hash=hint) if hint else None
    if row is not None and row.bolt11.lower() == text:
        if row.expires_at <= timezone.now():
            raise TapRefused("the invoice has expired", code="invoice-expired")
        invoice = _Invoice(
            payment_hash=row.payment_hash, bolt11=text, amount_msat=_check_amount(row.amount_msat), description=row.memo
        )
        return invoice, row
    invoice = _decode(pr)
    row = lightning_invoice_get(payment_hash=invoice.payment_hash)
    if row is not None and row.node_pubkey != invoice.payee:
        # Our invoice's payment hash under someone else's signature: an altered copy.
        raise TapRefused("this invoice was altered: its signature is not our node's", code="invalid-invoice")
    return invoice, row


@dataclass(frozen=True)
class WithdrawResult:
    payment: CardPayment


def _check_request(request: WithdrawRequest, now) -> None:
    if request.used_at is not None:
        raise TapRefused("this payment request (k1) was already used; tap the card again", code="k1-used")
    if request.expires_at <= now:
        raise TapRefused("this payment request (k1) has expired; tap the card again", code="k1-expired")


def _check_card_and_limits(*, card: Card, amount_msat: int, request: WithdrawRequest) -> None:
    if card.status != Card.Status.ACTIVE:
        raise TapRefused(STATUS_REASONS.get(card.status, "this card cannot pay"), code="card-not-active")
    if amount_msat > card.per_transaction_limit_msat:
        raise TapRefused("the amount is over this card's per-payment limit", code="over-limit")
    room = card_spending_room(card=card)
    if amount_msat > room.daily_left_msat:
        raise TapRefused("the amount is over what is left of this card's daily limit", code="over-daily-limit")
    if amount_msat > request.max_withdrawable_msat:
        raise TapRefused("the amount is over what this tap allows (maxWithdrawable)", code="over-max-withdrawable")


def _spend_k1(request: WithdrawRequest, now) -> None:
    request.used_at = now
    request.save(update_fields=["used_at"])


def card_withdraw(*, k1: str, pr: str, ip: str | None = None) -> WithdrawResult:
    """Pay ``pr`` from the card that made ``k1`` (LUD-03 callback); TapRefused on any refusal."""
    if ip and not ratelimit_hit(key=f"callback-ip:{ip}", limit=settings.CARD_RATE_LIMIT_PER_IP):
        raise RateLimited("too many requests from this address, try again in a minute")
    if not k1 or len(k1) > 128:
        raise TapRefused("k1 is missing or malformed", code="k1-unknown")
    if not pr:
        raise TapRefused("pr (the invoice to pay) is missing", code="invalid-invoice")
    if len(pr) > MAX_BOLT11_LENGTH:
        raise TapRefused("pr is too long to be a BOLT11 invoice", code="invalid-invoice")
    decoded, internal_invoice = _invoice_to_pay(pr)
    amount = decoded.amount_msat
    node = node_account()
    now = timezone.now()
    try:
        with transaction.atomic():
            try:
                request = withdraw_request_lock(k1_hash=k1_hash(k1))
            except WithdrawRequest.DoesNotExist:
                raise TapRefused("unknown payment request (k1)", code="k1-unknown")
            _check_request(request, now)
            # The card row lock serialises this card's payments: limits and balance are
            # checked against every earlier payment, committed or not.
            card = card_lock(pk=request.card_id)
            _check_card_and_limits(card=card, amount_msat=amount, request=request)
            if CardPayment.objects.filter(payment_hash=decoded.payment_hash).exists():
                raise TapRefused("this invoice was already paid by a Flash Card", code="invoice-already-paid")
            account = card_account(card_id=card.public_id, name=card.name)
            _spend_k1(request, now)
            if internal_invoice is not None:
                payment = _pay_internally(card=card, account=account, node=node, request=request, decoded=decoded)
            else:
                payment = _reserve_external(card=card, account=account, node=node, request=request, decoded=decoded)
    except InsufficientFunds:
        raise TapRefused("this card's balance is too low for this amount", code="insufficient-balance")
    except (IntegrityError, Conflict):
        # Two callbacks for one invoice at once (from two cards): the unique payment hash, or the
        # ledger's idempotency key of the reserve, let one through.
        raise TapRefused("this invoice was already paid by a Flash Card", code="invoice-already-paid")
    if payment.kind == CardPayment.Kind.INTERNAL:
        # Runs now if no outer transaction is open, else once it commits: never inside one.
        payment_id = payment.pk
        transaction.on_commit(lambda: _enqueue_node_invoice_cancel(payment_id))
    if payment.kind == CardPayment.Kind.EXTERNAL:
        payment = card_payment_send(payment=payment)
        if payment.status == CardPayment.Status.FAILED:
            raise TapRefused(f"the payment failed: {payment.failure_reason}", code="payment-failed")
    return WithdrawResult(payment=payment)


def _pay_internally(*, card, account, node, request, decoded) -> CardPayment:
    """A FlashPay merchant's invoice: card -> node and the invoice settled, in this transaction."""
    store_id, store_name = _merchant_of(decoded.payment_hash)
    try:
        with transaction.atomic():
            settled = lightning_invoice_settle_internally(payment_hash=decoded.payment_hash, amount_msat=decoded.amount_msat)
    except Conflict as exc:
        raise TapRefused(f"this FlashPay invoice cannot be paid: {exc.message}", code="invoice-not-payable")
    txn = transaction_post(
        entries=[(account, -decoded.amount_msat), (node, decoded.amount_msat)],
        idempotency_key=f"card-payment:{decoded.payment_hash}",
        description=f"Flash Card payment to {store_name or 'a FlashPay merchant'}"[:500],
        metadata={"type": "card_payment", "payment_hash": decoded.payment_hash, "card": card.public_id, "internal": True},
    )
    payment = CardPayment(
        card=card,
        withdraw_request=request,
        payment_hash=decoded.payment_hash,
        bolt11=decoded.bolt11,
        kind=CardPayment.Kind.INTERNAL,
        status=CardPayment.Status.SUCCEEDED,
        amount_msat=decoded.amount_msat,
        hold_transaction_id=txn.pk,
        merchant_store_id=store_id or "",
        merchant_name=store_name[:200],
        description=decoded.description[:639],
        finished_at=timezone.now(),
        node_invoice_expires_at=settled.expires_at,
    )
    # Card and request were just locked by the caller: no foreign-key existence queries.
    payment.full_clean(exclude=["card", "withdraw_request"], validate_unique=False, validate_constraints=False)
    payment.save(force_insert=True)
    _emit_payment_event(payment)
    return payment


def _reserve_external(*, card, account, node, request, decoded) -> CardPayment:
    """Any other invoice: reserve amount + fee limit on the card; the node is called after commit."""
    fee_limit = routing_fee_limit_msat(amount_msat=decoded.amount_msat)
    hold = hold_create(
        entries=[(account, -(decoded.amount_msat + fee_limit)), (node, decoded.amount_msat + fee_limit)],
        idempotency_key=f"card-payment-hold:{decoded.payment_hash}",
        description="Flash Card payment (reserved)",
        metadata={"type": "card_payment", "payment_hash": decoded.payment_hash, "card": card.public_id, "hold": True},
    )
    payment = CardPayment(
        card=card,
        withdraw_request=request,
        payment_hash=decoded.payment_hash,
        bolt11=decoded.bolt11,
        kind=CardPayment.Kind.EXTERNAL,
        amount_msat=decoded.amount_msat,
        fee_limit_msat=fee_limit,
        hold_transaction_id=hold.pk,
        description=decoded.description[:639],
    )
    payment.full_clean(exclude=["card", "withdraw_request"], validate_unique=False, validate_constraints=False)
    payment.save(force_insert=True)
    return payment


# --- canceling internally paid invoices on the node --------------------------------------------


def _enqueue_node_invoice_cancel(payment_id: int) -> None:
    """Queue the node call; if the broker is down the periodic sweep cancels instead."""
    task_enqueue("cards.tasks.card_payment_node_invoice_cancel_task", payment_id)


def card_payment_node_invoice_cancel(*, payment: CardPayment, backend: LightningBackend | None = None) -> CardPayment:
    """Cancel on the node the invoice an internal card payment settled inside the ledger, so the
    same BOLT11 can no longer be paid over Lightning as well. Idempotent; a node failure is
    recorded on the payment and left for the next sweep (``card_payments_node_invoices_cancel``).
    Calls the node with no transaction open."""
    now = timezone.now()
    if (
        payment.kind != CardPayment.Kind.INTERNAL
        or payment.node_invoice_canceled_at is not None
        or payment.node_invoice_expires_at is None
        or payment.node_invoice_expires_at <= now
    ):
        return payment
    try:
        state = lightning_invoice_cancel_on_node(backend=backend or server_node_client(), payment_hash=payment.payment_hash)
    except LightningError as exc:
        logger.warning("card payment %s: node cancel failed (%s); will retry", payment.public_id, exc.code)
        payment.node_cancel_error = exc.message[:500]
        CardPayment.objects.filter(pk=payment.pk, node_invoice_canceled_at__isnull=True).update(
            node_cancel_error=payment.node_cancel_error
        )
        return payment
    payment.node_invoice_canceled_at = timezone.now()
    # SETTLED: paid on the node too before we got there (the recorder credits nothing twice).
    payment.node_cancel_error = "" if state == InvoiceState.CANCELED else "the node was paid as well before the cancel"
    CardPayment.objects.filter(pk=payment.pk, node_invoice_canceled_at__isnull=True).update(
        node_invoice_canceled_at=payment.node_invoice_canceled_at, node_cancel_error=payment.node_cancel_error
    )
    return payment


def card_payments_node_invoices_cancel(*, backend: LightningBackend | None = None, limit: int = 500) -> int:
    """The sweep: cancel on the node every still-payable invoice that a card paid internally
    (the after-commit task failed, or the broker was down); returns how many were canceled."""
    backend = backend or server_node_client()
    canceled = 0
    for payment in card_payment_node_cancel_due_list(limit=limit):
        payment = card_payment_node_invoice_cancel(payment=payment, backend=backend)
        if payment.node_invoice_canceled_at is None:
            break  # the node is failing: leave the rest for the next run
        canceled += 1
    return canceled


# --- settling external payments --------------------------------------------------------------


def card_payment_send(*, payment: CardPayment, backend: LightningBackend | None = None) -> CardPayment:
    """Call the node for a reserved external payment (no lock held) and settle on its answer."""
    backend = backend or server_node_client()
    try:
        result = backend.pay(
            payment.bolt11,
            fee_limit_msat=payment.fee_limit_msat,
            timeout=settings.CARD_PAYMENT_TIMEOUT,
        )
    except InvalidPaymentRequest as exc:
        # Refused before anything left the node (e.g. another network than the node's).
        result = PaymentResult(status=PaymentStatus.FAILED, payment_hash=payment.payment_hash, reason=exc.message)
    except LightningError as exc:
        # The request may have reached the node: unknown, the reconciler will ask.
        logger.warning("card payment %s: node error %s; left pending", payment.public_id, exc.code)
        return payment
    return card_payment_settle(payment=payment, result=result)


def card_payment_settle(*, payment: CardPayment, result: PaymentResult) -> CardPayment:
    """Apply the node's answer: success posts amount + real fee, failure voids, unknown waits.

    Idempotent: a payment already final is returned unchanged (the reconciler and the callback
    may both get here).
    """
    if result.status == PaymentStatus.UNKNOWN:
        return payment
    with transaction.atomic():
        payment = card_payment_lock(pk=payment.pk)
        if payment.status != CardPayment.Status.PENDING:
            return payment
        now = timezone.now()
        if result.status == PaymentStatus.SUCCESS:
            # The real fee, never more than what was reserved (the node honours the limit).
            fee = min(max(int(result.fee_msat), 0), payment.fee_limit_msat)
            hold_void(hold=payment.hold_transaction_id)
            card = payment.card
            txn = transaction_post(
                entries=[(card_account(card_id=card.public_id, name=card.name), -(payment.amount_msat + fee)), (node_account(), payment.amount_msat + fee)],
                idempotency_key=f"card-payment:{payment.payment_hash}",
                description="Flash Card payment",
                metadata={"type": "card_payment", "payment_hash": payment.payment_hash, "card": card.public_id, "fee_msat": fee},
            )
            payment.status = CardPayment.Status.SUCCEEDED
            payment.fee_msat = fee
            payment.preimage = result.preimage[:64]
            payment.hold_transaction_id = txn.pk
            fields = ["status", "fee_msat", "preimage", "hold_transaction_id", "finished_at"]
        else:
            hold_void(hold=payment.hold_transaction_id)
            payment.status = CardPayment.Status.FAILED
            payment.failure_reason = (result.reason or "the node could not pay")[:500]
            fields = ["status", "failure_reason", "finished_at"]
        payment.finished_at = now
        payment.full_clean(validate_unique=False, validate_constraints=False)
        payment.save(update_fields=fields)
        _emit_payment_event(payment)
    return payment


def card_payments_reconcile(*, backend: LightningBackend | None = None, older_than_seconds: int | None = None) -> int:
    """Ask the node about every pending external payment and settle those with a final answer;
    returns how many were settled. Unknown ones stay pending for the next run."""
    backend = backend or server_node_client()
    if older_than_seconds is None:
        # Leave payments whose callback may still be calling the node alone.
        older_than_seconds = int(settings.CARD_PAYMENT_TIMEOUT) + 30
    settled = 0
    for payment in card_payment_pending_list(older_than_seconds=older_than_seconds):
        try:
            # A payment the node never started (we stopped between commit and the call) comes
            # back FAILED from the backend: its reservation is released.
            result = backend.track_payment(payment.payment_hash)
        except LightningError as exc:
            logger.warning("card payment reconcile: node error %s; will retry", exc.code)
            break
        if result.status != PaymentStatus.UNKNOWN:
            card_payment_settle(payment=payment, result=result)
            settled += 1
    return settled
