"""Card top-ups: a Greenfield invoice of the program store whose settled payments credit the card.

A top-up is an ordinary invoice of the invoices app (fixed amount in BTC, SATS or fiat, or a
Greenfield ``TopUp`` invoice of any amount) on the store named by ``FLASH_PROGRAM_STORE_ID``,
payable over Lightning and on-chain with whatever that store has enabled, and shown on the
hosted checkout page ``/i/<invoiceId>``.

Each payment's money follows the payment's status in the invoices app (``CardTopUpPayment``,
``card_topup_payment_apply``), so a credit that rests on a chain payment stays reversible:

- Processing (seen, not yet settled per the program store's speed policy): a ledger HOLD
  source -> card. The card shows it as incoming (pending credit); nobody can spend it.
- Settled: the hold is voided and the money POSTED to the card: now it can be spent.
- No longer settled (a reorg took its block away: back in the mempool, or out of the chain;
  a double spend; an eviction): the credit is taken back in one posting. The card gives what
  it still has available; what it already spent is posted to the card's RECEIVABLE
  (``card_receivable_account``: the holder owes it, visible in the admin and in
  ``ledger_reconcile``), never left as a negative card balance. A payment back in the
  mempool is held as pending again, and credited again when it settles again.
- A later credit to the card pays what its holder owes first.

The handlers (``cards.handlers``) run on InvoiceReceivedPayment, InvoicePaymentSettled and
InvoicePaymentUndone, and read the payment's CURRENT status from the invoices app: late or
reordered deliveries cannot move money the wrong way.

Money path, so nothing is created, lost or counted twice:

- A Lightning payment on FlashPay's node: the invoices app posts node -> merchant(program store)
  (ledger key = the payment hash); the top-up then posts merchant(program store) -> card. The
  program store's merchant account nets to zero for every top-up; the store never keeps it.
- A payment the ledger has not seen (on-chain to the program's wallet, or a Lightning node of the
  store's own): external("topup-wallet:<store id>") -> card. That account's negative balance is
  the bitcoin the program holds outside the node for its cards.

Every move is one ledger transaction under the top-up's row lock, keyed by (invoice, payment,
number of the move): a redelivered event or a second worker finds the payment already where its
status says and moves nothing. The program store must be used for nothing else (settlement
schedules refuse it): its merchant account only passes money through.
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cards.locks import card_topup_lock
from cards.models import Card, CardTopUp, CardTopUpPayment
from flashpay.errors import ApplicationError, Conflict, FieldError, NotFound
from flashpay.events.services import event_emit
from flashpay.ledger.accounts import (
    card_account,
    card_receivable_account,
    merchant_account,
    topup_wallet_account,
)
from flashpay.ledger.locks import accounts_lock
from flashpay.ledger.selectors import transaction_entry_list, transaction_get
from flashpay.ledger.services import hold_create, hold_void, transaction_post
from flashpay.money import MSAT_PER_BTC, MSAT_PER_SAT, Msat

logger = logging.getLogger(__name__)

CARD_TOPUP_CREDITED_EVENT = "CardTopUpCredited"
# A credit taken back (its payment is no longer settled); payload names what the card gave back
# and what its holder now owes.
CARD_TOPUP_REVERSED_EVENT = "CardTopUpReversed"
# The invoices app's payment statuses (Greenfield), and the state each one puts a payment's money in.
_STATE_FOR_STATUS = {
    "Processing": CardTopUpPayment.State.PENDING,
    "Settled": CardTopUpPayment.State.CREDITED,
    "Invalid": CardTopUpPayment.State.UNDONE,
}
MAX_TOPUP_MSAT = 10_000_000_000  # 0.1 BTC: a prepaid card is not a savings account
# Invoice metadata naming the card: lets the payment handler tell "not a top-up" from "a top-up
# whose row is not written yet" (the row follows its invoice by one statement).
TOPUP_METADATA_KEY = "flashCardTopUp"


class TopUpsNotConfigured(ApplicationError):
    code = "topups-not-configured"
    status_code = 503


class TopUpNotRecordedYet(ApplicationError):
    """A payment of a top-up invoice arrived before the top-up row: the delivery is retried."""

    code = "topup-not-recorded"
    status_code = 409


def program_store():
    """The store whose invoices top up cards (``FLASH_PROGRAM_STORE_ID``)."""
    from flashpay.accounts.selectors import store_get

    store_id = settings.FLASH_PROGRAM_STORE_ID
    if not store_id:
        raise TopUpsNotConfigured("card top-ups are not set up on this server (FLASH_PROGRAM_STORE_ID)")
    try:
        return store_get(store_id=store_id)
    except NotFound:
        raise TopUpsNotConfigured("the card program's store (FLASH_PROGRAM_STORE_ID) does not exist")


def _requested_msat(*, amount: Decimal, currency: str) -> int:
    """The top-up in msat, to refuse one over the maximum before an invoice exists."""
    if currency == "BTC":
        return int(amount * MSAT_PER_BTC)
    if currency == "SATS":
        return int(amount * MSAT_PER_SAT)
    from invoices.rates.selectors import rate_get

    return Msat.from_fiat(amount, rate=rate_get(pair=f"BTC_{currency}").value).value


def card_topup_create(
    *,
    card: Card,
    amount: Decimal | None = None,
    currency: str | None = None,
    amount_msat: int | None = None,
    actor: str = "flash-app",
) -> CardTopUp:
    """Create the program store's invoice that tops up ``card``, and the top-up row naming it.

    Either ``amount`` in ``currency`` (BTC, SATS or a fiat code; the store's default currency when
    omitted), or ``amount_msat``, or neither (a Greenfield TopUp invoice: any amount). The invoice
    is created (and the nodes called) by the invoices app with no transaction of ours open.
    """
    from invoices.services.invoices import invoice_create

    if amount_msat is not None:
        if amount is not None:
            raise FieldError("amount_msat", "give amount (with currency) or amount_msat, not both")
        if isinstance(amount_msat, bool) or not isinstance(amount_msat, int) or not 0 < amount_msat <= MAX_TOPUP_MSAT:
            raise FieldError("amount_msat", f"must be a whole number of msat between 1 and {MAX_TOPUP_MSAT}")
        amount, currency = Decimal(amount_msat) / MSAT_PER_SAT, "SATS"
    if card.status == Card.Status.CANCELED:
        raise Conflict("a canceled card cannot be topped up", code="card-canceled")
    store = program_store()
    currency = (currency or store.default_currency or "BTC").strip().upper()
    if amount is not None:
        try:
            amount = Decimal(amount)
        except (InvalidOperation, TypeError, ValueError):
            raise FieldError("amount", "must be a decimal number")
        if not amount.is_finite() or amount <= 0:
            raise FieldError("amount", "must be more than zero (leave it out for any amount)")
        if _requested_msat(amount=amount, currency=currency) > MAX_TOPUP_MSAT:
            raise FieldError("amount", f"a top-up is at most {Msat(MAX_TOPUP_MSAT).format_btc()}")
    minutes = max(-(-settings.CARD_TOPUP_EXPIRY_SECONDS // 60), 1)
    invoice = invoice_create(
        store=store,
        amount=amount,
        currency=currency,
        metadata={
            "itemDesc": f"Flash Card top-up: {card.name}"[:200],
            TOPUP_METADATA_KEY: card.public_id,
        },
        checkout={"expirationMinutes": minutes},
        actor=actor,
    )
    topup = CardTopUp(
        card=card,
        invoice_id=invoice.pk,
        store_id=store.pk,
        amount_msat=invoice.amount_msat,
        expires_at=invoice.expires_at,
    )
    topup.full_clean(exclude=["card"], validate_unique=False, validate_constraints=False)
    topup.save(force_insert=True)
    return topup


def _move_key(invoice_id: str, payment_id: str, row: CardTopUpPayment, kind: str) -> str:
    # The first credit keeps the key top-ups always used, so a payment credited before
    # CardTopUpPayment rows existed is recognised (``_payment_row``).
    if kind == "credit" and row.moves == 0:
        return f"card-topup:{invoice_id}:{payment_id}"
    return f"card-topup:{invoice_id}:{payment_id}:{row.moves}:{kind}"


def _source_account(*, store_id: str, payment_id: str, amount_msat: int):
    """Where a payment's money is in the ledger: the program store's merchant account when the
    invoices app credited it there (Lightning on our node, ledger key = the payment hash), else
    the program's wallet outside the node."""
    merchant = merchant_account(store_id=store_id)
    try:
        received = transaction_get(idempotency_key=payment_id)
    except NotFound:
        received = None
    if received is not None and (merchant, Msat(amount_msat)) in transaction_entry_list(transaction=received):
        return merchant
    return topup_wallet_account(store_id=store_id)


def _payment_row(*, topup: CardTopUp, payment_id: str, amount_msat: int) -> CardTopUpPayment:
    row = CardTopUpPayment.objects.filter(topup=topup, payment_id=payment_id).first()
    if row is not None:
        return row
    row = CardTopUpPayment(topup=topup, payment_id=payment_id, amount_msat=amount_msat)
    try:  # credited before these rows existed: the first credit's key tells
        legacy = transaction_get(idempotency_key=f"card-topup:{topup.invoice_id}:{payment_id}")
        row.state, row.credit_transaction_id, row.moves = CardTopUpPayment.State.CREDITED, legacy.pk, 1
    except NotFound:
        pass
    row.full_clean(exclude=["topup"], validate_unique=False, validate_constraints=False)
    row.save(force_insert=True)
    return row


def _credit(*, topup: CardTopUp, row: CardTopUpPayment, card: Card, source) -> int:
    """Post the payment to the card, paying what its holder owes first; the msat the card got."""
    amount = row.amount_msat
    account = card_account(card_id=card.public_id, name=card.name)
    receivable = card_receivable_account(card_id=card.public_id)
    locked = accounts_lock(account_ids=[source.pk, account.pk, receivable.pk])
    repay = min(max(-locked[receivable.pk].posted_msat, 0), amount)
    entries = [(source, -amount)]
    if repay:
        entries.append((receivable, repay))
    if amount - repay:
        entries.append((account, amount - repay))
    txn = transaction_post(
        entries=entries,
        idempotency_key=_move_key(topup.invoice_id, row.payment_id, row, "credit"),
        description="Flash Card top-up" + (f" ({Msat(repay)} paid what the holder owed)" if repay else ""),
        metadata={
            "type": "card_topup", "invoiceId": topup.invoice_id, "paymentId": row.payment_id,
            "card": card.public_id, "topUpId": topup.public_id, "repaid_msat": repay,
        },
    )
    row.credit_transaction_id = txn.pk
    return amount - repay


def _take_back(*, topup: CardTopUp, row: CardTopUpPayment, card: Card, source, reason: str) -> tuple[int, int]:
    """Take a credited payment back: from the card what it has available, the rest into what
    its holder owes. Returns (taken from the card, now owed)."""
    amount = row.amount_msat
    account = card_account(card_id=card.public_id, name=card.name)
    receivable = card_receivable_account(card_id=card.public_id)
    # Locked before reading the card's available money, so a tap cannot spend it in between.
    locked = accounts_lock(account_ids=[source.pk, account.pk, receivable.pk])
    card_row = locked[account.pk]
    taken = min(max(card_row.posted_msat - card_row.pending_debit_msat, 0), amount)
    owed = amount - taken
    entries = [(source, amount)]
    if taken:
        entries.append((account, -taken))
    if owed:
        entries.append((receivable, -owed))
    transaction_post(
        entries=entries,
        idempotency_key=_move_key(topup.invoice_id, row.payment_id, row, "reversal"),
        description=f"Flash Card top-up taken back: {reason}",
        metadata={
            "type": "card_topup_reversal", "invoiceId": topup.invoice_id, "paymentId": row.payment_id,
            "card": card.public_id, "topUpId": topup.public_id, "owed_msat": owed, "reason": reason,
        },
    )
    row.credit_transaction_id = None
    row.reversed_msat += amount
    row.owed_msat += owed
    return taken, owed


def _hold(*, topup: CardTopUp, row: CardTopUpPayment, card: Card, source) -> None:
    """The payment seen but not settled: incoming on the card, not spendable."""
    txn = hold_create(
        entries=[(source, -row.amount_msat), (card_account(card_id=card.public_id, name=card.name), row.amount_msat)],
        idempotency_key=_move_key(topup.invoice_id, row.payment_id, row, "pending"),
        description="Flash Card top-up (waiting for confirmation)",
        metadata={
            "type": "card_topup", "invoiceId": topup.invoice_id, "paymentId": row.payment_id,
            "card": card.public_id, "topUpId": topup.public_id,
        },
    )
    row.hold_transaction_id = txn.pk


def card_topup_payment_apply(
    *, invoice_id: str, payment_id: str, amount_msat: int, status: str, is_topup_invoice: bool = False
) -> CardTopUp | None:
    """Bring one payment of a top-up invoice's money on the card in line with its ``status``
    (the invoices app's payment status now: Processing, Settled or Invalid); None if the invoice
    is not a top-up.

    Idempotent: a payment already where its status says moves nothing. ``is_topup_invoice``
    (the invoice's metadata says so) turns a missing top-up row into ``TopUpNotRecordedYet`` so
    the outbox retries instead of dropping the credit.
    """
    if isinstance(amount_msat, bool) or not isinstance(amount_msat, int) or amount_msat <= 0:
        raise FieldError("amount_msat", "a payment must have received money")
    wanted = _STATE_FOR_STATUS.get(status)
    if wanted is None:
        raise FieldError("status", f"unknown payment status {status!r}")
    State = CardTopUpPayment.State
    events = []
    with transaction.atomic():
        topup = card_topup_lock(invoice_id=invoice_id)
        if topup is None:
            if is_topup_invoice:
                raise TopUpNotRecordedYet(f"invoice {invoice_id} is a top-up whose row is not written yet")
            return None
        row = _payment_row(topup=topup, payment_id=payment_id, amount_msat=amount_msat)
        if row.state == wanted:
            return topup  # done before (the outbox delivers at least once)
        card = topup.card
        source = _source_account(store_id=topup.store_id, payment_id=payment_id, amount_msat=row.amount_msat)
        before = row.state
        # leave the current state
        if before == State.PENDING:
            hold_void(hold=row.hold_transaction_id)
            row.hold_transaction_id = None
            row.moves += 1
            topup.pending_msat -= row.amount_msat
        elif before == State.CREDITED:
            reason = "its payment left the chain" if wanted == State.UNDONE else "its payment is unconfirmed again"
            taken, owed = _take_back(topup=topup, row=row, card=card, source=source, reason=reason)
            row.moves += 1
            topup.credited_msat -= row.amount_msat
            events.append((CARD_TOPUP_REVERSED_EVENT, {"taken_from_card_msat": taken, "owed_msat": owed, "reason": reason}))
        # enter the wanted state
        if wanted == State.PENDING:
            _hold(topup=topup, row=row, card=card, source=source)
            row.moves += 1
            topup.pending_msat += row.amount_msat
        elif wanted == State.CREDITED:
            credited = _credit(topup=topup, row=row, card=card, source=source)
            row.moves += 1
            topup.credited_msat += row.amount_msat
            topup.credited_at = topup.credited_at or timezone.now()
            events.append((CARD_TOPUP_CREDITED_EVENT, {"on_card_msat": credited}))
        row.state = wanted
        row.full_clean(exclude=["topup"], validate_unique=False, validate_constraints=False)
        row.save(update_fields=[
            "state", "moves", "hold_transaction_id", "credit_transaction_id", "reversed_msat", "owed_msat", "updated_at",
        ])
        if topup.credited_msat > 0:
            topup.status = CardTopUp.Status.CREDITED
        elif topup.status == CardTopUp.Status.CREDITED:
            topup.status = CardTopUp.Status.REVERSED
        topup.full_clean(exclude=["card"], validate_unique=False, validate_constraints=False)
        topup.save(update_fields=["status", "credited_msat", "pending_msat", "credited_at"])
        for event_type, extra in events:
            event_emit(
                type=event_type,
                aggregate_type="card",
                aggregate_id=card.public_id,
                payload={
                    "topUpId": topup.public_id,
                    "cardId": card.public_id,
                    "holderId": card.holder_id,
                    "invoiceId": invoice_id,
                    "paymentId": payment_id,
                    "amount_msat": row.amount_msat,
                    "credited_msat": topup.credited_msat,
                    **extra,
                },
                # the first credit keeps its historical key; every later move has its number
                idempotency_key=(
                    f"{event_type}:{invoice_id}:{payment_id}"
                    if event_type == CARD_TOPUP_CREDITED_EVENT and row.moves == 1
                    else f"{event_type}:{invoice_id}:{payment_id}:{row.moves}"
                ),
            )
    if card.status == Card.Status.CANCELED and wanted == State.CREDITED:
        # The holder's money still lands on the card's account; an operator refunds it from there.
        logger.warning("top-up %s credited to canceled card %s", topup.public_id, card.public_id)
    return topup


def card_topup_payment_credit(
    *, invoice_id: str, payment_id: str, amount_msat: int, is_topup_invoice: bool = False
) -> CardTopUp | None:
    """Credit one settled payment of a top-up invoice to its card, once (``card_topup_payment_apply``
    with the status Settled); None if the invoice is not a top-up."""
    return card_topup_payment_apply(
        invoice_id=invoice_id, payment_id=payment_id, amount_msat=amount_msat, status="Settled",
        is_topup_invoice=is_topup_invoice,
    )
