"""A fresh BOLT11 for what is still due after a partial payment; the BOLT11 it replaces is canceled on its node.

A BOLT11 commits to its amount, so once part of an invoice is paid (on-chain, say) the BTC-LN
prompt minted at creation would make a Lightning payer pay the full amount again. Like BTCPay,
the invoice then gets a new BOLT11 for exactly the amount due, expiring with the invoice.

Where it runs: a django-q2 task queued when a payment commits (``invoice_lightning_remainder_queue``
from the payment recorders), plus a sweep every minute for a lost enqueue or a node that was
away. Not on read: the checkout page, its polled status and the Greenfield API are public or
hot GETs, and minting there would let anyone holding an invoice link make our node work and
would write from a GET. The payment recorders stay fast: they only register an on-commit hook.
Until the task has run, readers treat the old BOLT11 as stale (not ``activated``; the checkout
leaves it out), so nobody is offered a BOLT11 for the wrong amount.

Money is never lost: the old prompt row stays (``superseded_at``) and a payment to its payment
hash is still recorded against the invoice; the old BOLT11 is canceled on the node after the
swap commits (a second task, retried by the sweep), so it can no longer be paid.

The same goes for the BOLT11s the LNURL-pay callback minted before the payment (one per amount a
wallet asked for, rows of ``InvoiceLnurlInvoice`` under the BTC-LNURL prompt): those asking for
more than is now due are canceled on the node that minted them by a third task queued with the
swap (retried by the sweep). A payment that reaches one first is still recorded by its hash.
"""
from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from flashpay.errors import ApplicationError
from flashpay.events.broker import task_enqueue
from invoices.locks import invoice_lock
from invoices.models import (
    Invoice,
    InvoiceLnurlInvoice,
    InvoicePayment,
    InvoicePaymentPrompt,
    InvoiceStatus,
    PaymentMethodId,
    StorePaymentMethod,
)
from invoices.selectors import (
    invoice_lightning_prompt_current,
    invoice_paid,
    invoice_paid_msat_subquery,
    invoice_prompts_node_cancel_due,
    invoices_lightning_remainder_due,
)
from invoices.services.store_payment_methods import store_lightning_backend
from lightning.selectors import lightning_invoice_get
from lightning.services import (
    InvoiceState,
    LightningBackend,
    LightningError,
    lightning_invoice_cancel_on_node,
    lightning_invoice_create,
    lightning_invoice_mark_canceled,
    server_node_client,
)

logger = logging.getLogger(__name__)

REFRESH_TASK = "invoices.tasks.invoice_lightning_remainder_task"
CANCEL_TASK = "invoices.tasks.invoice_prompt_node_cancel_task"
LNURL_CANCEL_TASK = "invoices.tasks.invoice_lnurl_bolt11s_cancel_task"
# A payment landing between the mint and the swap makes the minted BOLT11 stale: mint again, a
# few times at most (the sweep carries on after that).
MAX_MINT_ATTEMPTS = 3


class LightningPromptUnavailable(ApplicationError):
    """BTC-LN has no BOLT11 for what is due and none can be minted now."""

    code = "payment-method-unavailable"
    status_code = 422


def invoice_lightning_remainder_queue(*, invoice: Invoice) -> None:
    """Called by the payment recorders with the LOCKED invoice they just evaluated: once their
    transaction commits, queue a fresh BOLT11 for what is due. No query, no node call here."""
    if invoice.status != InvoiceStatus.NEW or invoice.amount_msat is None:
        return
    methods = invoice.checkout.get("paymentMethods") if isinstance(invoice.checkout, dict) else None
    if not methods or PaymentMethodId.BTC_LN not in methods:
        return
    invoice_id = invoice.pk
    transaction.on_commit(lambda: task_enqueue(REFRESH_TASK, invoice_id, group="invoices"))


def _no_transaction(name: str) -> None:
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"{name} calls the Lightning node: not inside a transaction")


def _current_ln_prompt(invoice: Invoice, *, lock: bool = False) -> InvoicePaymentPrompt | None:
    prompts = invoice.prompts.filter(payment_method_id=PaymentMethodId.BTC_LN, superseded_at__isnull=True)
    if lock:
        prompts = prompts.select_for_update(no_key=True, of=("self",))
    return prompts.first()


def _due_msat(invoice: Invoice) -> int:
    return invoice.amount_msat - invoice_paid(invoice=invoice).accounted_msat


def _backend(*, invoice: Invoice, prompt: InvoicePaymentPrompt) -> LightningBackend | None:
    """The node that minted ``prompt``: the server's, or the merchant's own (None once removed)."""
    if prompt.internal_node:
        return server_node_client()
    method = StorePaymentMethod.objects.filter(
        store_id=invoice.store_id, payment_method_id=PaymentMethodId.BTC_LN, internal_node=False
    ).first()
    if method is None:
        return None
    return store_lightning_backend(method=method)


def _swap(*, invoice_id: str, old: InvoicePaymentPrompt, due: int, bolt11: str, payment_hash: str) -> InvoicePaymentPrompt | None:
    """Replace ``old`` by the minted BOLT11 if nothing moved since it was minted; the new prompt or None."""
    with transaction.atomic():
        invoice = invoice_lock(invoice_id=invoice_id)
        current = _current_ln_prompt(invoice, lock=True)
        now = timezone.now()
        if (
            invoice.status != InvoiceStatus.NEW
            or invoice.expires_at <= now
            or current is None
            or current.pk != old.pk
            or _due_msat(invoice) != due
        ):
            return None
        current.superseded_at = now
        current.save(update_fields=["superseded_at"])
        new = InvoicePaymentPrompt(
            invoice=invoice,
            payment_method_id=PaymentMethodId.BTC_LN,
            destination=bolt11,
            payment_hash=payment_hash,
            internal_node=current.internal_node,
            amount_msat=due,
            created_at=now,
        )
        # The invoice is locked in hand and the database holds the constraints.
        new.full_clean(exclude=["invoice"], validate_unique=False, validate_constraints=False)
        new.save(force_insert=True)
        old_id = current.pk
        transaction.on_commit(lambda: task_enqueue(CANCEL_TASK, old_id, group="invoices"))
        if _lnurl_over_due(invoice=invoice, due=due).exists():
            transaction.on_commit(lambda: task_enqueue(LNURL_CANCEL_TASK, invoice_id, group="invoices"))
    logger.info("invoice %s: BTC-LN %s replaced by %s for the %s msat due", invoice_id, old.payment_hash, payment_hash, due)
    return new


def _discard(*, backend: LightningBackend, payment_hash: str) -> None:
    """A BOLT11 minted but never shown (the invoice moved on meanwhile): cancel it on the node."""
    try:
        if lightning_invoice_cancel_on_node(backend=backend, payment_hash=payment_hash) == InvoiceState.CANCELED:
            lightning_invoice_mark_canceled(payment_hash=payment_hash)
    except LightningError as exc:
        # Nobody has it, and it expires with the invoice.
        logger.warning("could not cancel the unused BOLT11 %s (%s)", payment_hash, exc.code)


def invoice_lightning_remainder_refresh(*, invoice_id: str) -> InvoicePaymentPrompt | None:
    """Give a New, partly paid invoice a BTC-LN BOLT11 for exactly what is due, expiring when the
    invoice does; returns the new prompt, or None when there was nothing to do.

    Order of work, as in invoice_create: read, call the node with no transaction open, then swap
    the prompts in one short transaction under the invoice's row lock, re-checking that no
    payment arrived in between (else the minted BOLT11 is canceled and minting starts over).
    Idempotent: a second run finds the prompt current. A node failure raises LightningError
    with nothing written. The old BOLT11 is canceled on the node by a task queued on commit.
    """
    _no_transaction("invoice_lightning_remainder_refresh")
    for _attempt in range(MAX_MINT_ATTEMPTS):
        invoice = Invoice.objects.filter(pk=invoice_id).first()
        if invoice is None or invoice.status != InvoiceStatus.NEW or invoice.amount_msat is None:
            return None
        old = _current_ln_prompt(invoice)
        if old is None:
            return None
        due = _due_msat(invoice)
        if invoice_lightning_prompt_current(invoice=invoice, prompt=old, paid_msat=invoice.amount_msat - due):
            return None
        expiry = int((invoice.expires_at - timezone.now()).total_seconds())
        if expiry < 1:
            return None  # the expiry task turns it Expired; no BOLT11 outlives its invoice
        backend = _backend(invoice=invoice, prompt=old)
        if backend is None:
            logger.warning("invoice %s: the store's own Lightning node is gone; no BOLT11 for the rest", invoice_id)
            return None
        minted_on_node = lightning_invoice_get(payment_hash=old.payment_hash)
        memo = minted_on_node.memo if minted_on_node is not None else ""
        minted = lightning_invoice_create(backend=backend, amount_msat=due, memo=memo, expiry=expiry)
        new = _swap(invoice_id=invoice_id, old=old, due=due, bolt11=minted.bolt11, payment_hash=minted.payment_hash)
        if new is not None:
            return new
        _discard(backend=backend, payment_hash=minted.payment_hash)
    return None


def invoice_lightning_prompt_activate(*, invoice_id: str) -> InvoicePaymentPrompt:
    """Greenfield "activate" for BTC-LN: when its BOLT11 asks for other than what is due (a partial
    payment came and the task has not minted the rest yet), mint it now; returns the current prompt.

    The same work as the task (invoice_lightning_remainder_refresh: node called with no transaction
    open, prompts swapped under the invoice lock), so a task running at the same time finds
    nothing left to do. A current prompt is returned as is. Raises LightningError when the node
    fails (nothing written) and LightningPromptUnavailable when no BOLT11 can be minted for the
    rest: the invoice's time is up, or the store's own node is gone.
    """
    _no_transaction("invoice_lightning_prompt_activate")
    minted = invoice_lightning_remainder_refresh(invoice_id=invoice_id)
    if minted is not None:
        return minted
    invoice = Invoice.objects.get(pk=invoice_id)
    prompt = _current_ln_prompt(invoice)
    if prompt is None:
        raise LightningPromptUnavailable("This invoice cannot be paid over Lightning")
    if invoice_lightning_prompt_current(invoice=invoice, prompt=prompt, paid_msat=invoice_paid(invoice=invoice).accounted_msat):
        return prompt
    if invoice.expires_at <= timezone.now():
        raise LightningPromptUnavailable("This invoice has expired: no Lightning invoice is made for what is due")
    raise LightningPromptUnavailable("No Lightning invoice for what is due can be made now; try again shortly")


def invoice_prompt_node_cancel(*, prompt: InvoicePaymentPrompt, backend: LightningBackend | None = None) -> InvoicePaymentPrompt:
    """Cancel a superseded BOLT11 on its node so it can no longer be paid (LND CancelInvoice,
    CLN delinvoice). Idempotent; a node failure leaves ``node_canceled_at`` empty for the sweep.

    If the node was paid first it answers SETTLED: the watcher records that payment against the
    invoice like any other (matched by payment hash), so nothing is lost and nothing is left to cancel.
    """
    _no_transaction("invoice_prompt_node_cancel")
    if prompt.payment_method_id != PaymentMethodId.BTC_LN or prompt.superseded_at is None or prompt.node_canceled_at is not None:
        return prompt
    backend = backend or _backend(invoice=prompt.invoice, prompt=prompt)
    if backend is None:
        return prompt
    try:
        state = lightning_invoice_cancel_on_node(backend=backend, payment_hash=prompt.payment_hash)
    except LightningError as exc:
        logger.warning("invoice %s: could not cancel the replaced BOLT11 %s (%s); will retry", prompt.invoice_id, prompt.payment_hash, exc.code)
        return prompt
    if state == InvoiceState.CANCELED:
        lightning_invoice_mark_canceled(payment_hash=prompt.payment_hash)
    prompt.node_canceled_at = timezone.now()
    InvoicePaymentPrompt.objects.filter(pk=prompt.pk, node_canceled_at__isnull=True).update(node_canceled_at=prompt.node_canceled_at)
    return prompt


def _lnurl_over_due(*, invoice: Invoice, due: int):
    """The invoice's LNURL-pay BOLT11s, not paid, asking for more than ``due``."""
    return (
        InvoiceLnurlInvoice.objects.filter(prompt__invoice=invoice, amount_msat__gt=max(due, 0))
        .exclude(payment_hash__in=InvoicePayment.objects.filter(invoice=invoice).values("payment_id"))
        .select_related("prompt")
        .order_by("pk")
    )


def _minting_node(*, invoice: Invoice, prompt: InvoicePaymentPrompt, node_pubkey: str) -> LightningBackend | None:
    """The node whose key minted a BOLT11: the server's or the store's own. The callback mints on
    the store's BTC-LN node of the moment, which may not be the one the invoice was created with,
    so the prompt only says which to ask first; None when neither is that node (any more)."""
    own = StorePaymentMethod.objects.filter(
        store_id=invoice.store_id, payment_method_id=PaymentMethodId.BTC_LN, internal_node=False
    ).first()
    for use_own in (False, True) if prompt.internal_node else (True, False):
        if use_own and own is None:
            continue
        try:
            backend = store_lightning_backend(method=own) if use_own else server_node_client()
            if backend.node_pubkey() == node_pubkey:
                return backend
        except LightningError as exc:
            logger.warning("invoice %s: could not ask a node whether it minted a BOLT11 (%s)", invoice.pk, exc.code)
    return None


def invoice_lnurl_bolt11s_cancel(*, invoice_id: str) -> list[InvoiceLnurlInvoice]:
    """Cancel, on the node that minted them, the invoice's open LNURL-pay BOLT11s that ask for more
    than is now due (minted before a partial payment): a payer could otherwise still pay the old,
    larger amount. Returns the rows canceled now.

    Runs after the BTC-LN prompt was replaced (a task queued on commit, retried by the sweep), with
    no transaction open. Idempotent: a BOLT11 already canceled, paid or expired is left alone. A
    node that was paid first answers SETTLED and the payment is recorded by its payment hash like
    any other (the watcher on the server's node, the own-node sync on a merchant's), so nothing is
    lost; a node failure leaves the BOLT11 open for the sweep.
    """
    _no_transaction("invoice_lnurl_bolt11s_cancel")
    invoice = Invoice.objects.filter(pk=invoice_id).first()
    if invoice is None or invoice.amount_msat is None:
        return []  # a top-up's LNURL BOLT11s ask for what the payer chose, none is too much
    canceled = []
    now = timezone.now()
    for row in _lnurl_over_due(invoice=invoice, due=_due_msat(invoice)):
        minted = lightning_invoice_get(payment_hash=row.payment_hash)
        if minted is None or minted.status != minted.Status.OPEN or minted.expires_at <= now:
            continue
        backend = _minting_node(invoice=invoice, prompt=row.prompt, node_pubkey=minted.node_pubkey)
        if backend is None:
            logger.warning("invoice %s: the node that minted the LNURL BOLT11 %s is not configured; cannot cancel it", invoice_id, row.payment_hash)
            continue
        try:
            state = lightning_invoice_cancel_on_node(backend=backend, payment_hash=row.payment_hash)
        except LightningError as exc:
            logger.warning("invoice %s: could not cancel the LNURL BOLT11 %s (%s); will retry", invoice_id, row.payment_hash, exc.code)
            continue
        if state == InvoiceState.CANCELED:
            lightning_invoice_mark_canceled(payment_hash=row.payment_hash)
            canceled.append(row)
    if canceled:
        logger.info("invoice %s: %d LNURL BOLT11(s) for more than the %s msat due canceled", invoice_id, len(canceled), _due_msat(invoice))
    return canceled


def _invoices_lnurl_cancel_due(*, now: datetime, limit: int) -> list[str]:
    """Ids of invoices whose BTC-LN prompt was replaced and which still have unpaid LNURL-pay
    BOLT11s asking for more than is due, while the invoice runs (the sweep's work list; whether a
    BOLT11 is still open on its node is for invoice_lnurl_bolt11s_cancel to check)."""
    replaced = InvoicePaymentPrompt.objects.filter(
        invoice=OuterRef("prompt__invoice"), payment_method_id=PaymentMethodId.BTC_LN, superseded_at__isnull=False
    )
    rows = (
        InvoiceLnurlInvoice.objects.filter(prompt__invoice__amount_msat__isnull=False, prompt__invoice__expires_at__gt=now)
        .filter(Exists(replaced))
        .filter(~Exists(InvoicePayment.objects.filter(payment_id=OuterRef("payment_hash"))))
        .annotate(paid=invoice_paid_msat_subquery("prompt__invoice"))
        .filter(amount_msat__gt=F("prompt__invoice__amount_msat") - F("paid"))
        .order_by("prompt__invoice_id")
        .values_list("prompt__invoice_id", flat=True)
        .distinct()
    )
    return list(rows[:limit])


def invoice_lightning_remainders_sweep(*, limit: int = 200) -> int:
    """The periodic catch-up: refresh every stale BTC-LN prompt of a New invoice and cancel every
    replaced BOLT11 and every LNURL-pay BOLT11 for more than is due not yet canceled (their tasks
    were lost, or the node was away). Returns the number of BOLT11s minted or canceled."""
    _no_transaction("invoice_lightning_remainders_sweep")
    done = 0
    for invoice_id in invoices_lightning_remainder_due(now=timezone.now(), limit=limit):
        try:
            if invoice_lightning_remainder_refresh(invoice_id=invoice_id) is not None:
                done += 1
        except LightningError as exc:
            logger.warning("invoice %s: no BOLT11 for the rest yet (%s); will retry", invoice_id, exc.code)
    for prompt in invoice_prompts_node_cancel_due(now=timezone.now(), limit=limit):
        if invoice_prompt_node_cancel(prompt=prompt).node_canceled_at is not None:
            done += 1
    for invoice_id in _invoices_lnurl_cancel_due(now=timezone.now(), limit=limit):
        done += len(invoice_lnurl_bolt11s_cancel(invoice_id=invoice_id))
    return done

