"""Card top-ups: a Greenfield invoice of the program store whose settled payments credit the card.

A top-up is an ordinary invoice of the invoices app (fixed amount in BTC, SATS or fiat, or a
Greenfield ``TopUp`` invoice of any amount) on the store named by ``FLASH_PROGRAM_STORE_ID``,
payable over Lightning and on-chain with whatever that store has enabled, and shown on the
hosted checkout page ``/i/<invoiceId>``. Each of its payments credits the card once, when the
invoices app announces it settled (``InvoicePaymentSettled``, see ``cards.handlers``).

Money path, so nothing is created, lost or counted twice:

- A Lightning payment on FlashPay's node: the invoices app posts node -> merchant(program store)
  (ledger key = the payment hash); the top-up then posts merchant(program store) -> card. The
  program store's merchant account nets to zero for every top-up; the store never keeps it.
- A payment the ledger has not seen (on-chain to the program's wallet, or a Lightning node of the
  store's own): external("topup-wallet:<store id>") -> card. That account's negative balance is
  the bitcoin the program holds outside the node for its cards.

One ledger transaction per (invoice, payment) under the top-up's row lock: a redelivered event
or a second worker finds it and credits nothing more. The program store must be used for
nothing else (settlement schedules refuse it): its merchant account only passes money through.
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cards.locks import card_topup_lock
from cards.models import Card, CardTopUp
from flashpay.errors import ApplicationError, Conflict, FieldError, NotFound
from flashpay.events.services import event_emit
from flashpay.ledger.accounts import card_account, merchant_account, topup_wallet_account
from flashpay.ledger.selectors import transaction_entry_list, transaction_get
from flashpay.ledger.services import transaction_post
from flashpay.money import MSAT_PER_BTC, MSAT_PER_SAT, Msat

logger = logging.getLogger(__name__)

CARD_TOPUP_CREDITED_EVENT = "CardTopUpCredited"
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


def _credit_key(invoice_id: str, payment_id: str) -> str:
    return f"card-topup:{invoice_id}:{payment_id}"


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


def card_topup_payment_credit(
    *, invoice_id: str, payment_id: str, amount_msat: int, is_topup_invoice: bool = False
) -> CardTopUp | None:
    """Credit one settled payment of a top-up invoice to its card, once; None if the invoice is
    not a top-up. ``is_topup_invoice`` (the invoice's metadata says so) turns a missing top-up
    row into ``TopUpNotRecordedYet`` so the outbox retries instead of dropping the credit."""
    if isinstance(amount_msat, bool) or not isinstance(amount_msat, int) or amount_msat <= 0:
        raise FieldError("amount_msat", "a settled payment must have received money")
    key = _credit_key(invoice_id, payment_id)
    with transaction.atomic():
        topup = card_topup_lock(invoice_id=invoice_id)
        if topup is None:
            if is_topup_invoice:
                raise TopUpNotRecordedYet(f"invoice {invoice_id} is a top-up whose row is not written yet")
            return None
        try:
            transaction_get(idempotency_key=key)
            return topup  # credited before (the outbox delivers at least once)
        except NotFound:
            pass
        card = topup.card
        source = _source_account(store_id=topup.store_id, payment_id=payment_id, amount_msat=amount_msat)
        transaction_post(
            entries=[(source, -amount_msat), (card_account(card_id=card.public_id, name=card.name), amount_msat)],
            idempotency_key=key,
            description="Flash Card top-up",
            metadata={
                "type": "card_topup", "invoiceId": invoice_id, "paymentId": payment_id,
                "card": card.public_id, "topUpId": topup.public_id,
            },
        )
        now = timezone.now()
        topup.status = CardTopUp.Status.CREDITED
        topup.credited_msat += amount_msat
        topup.credited_at = topup.credited_at or now
        topup.full_clean(exclude=["card"], validate_unique=False, validate_constraints=False)
        topup.save(update_fields=["status", "credited_msat", "credited_at"])
        event_emit(
            type=CARD_TOPUP_CREDITED_EVENT,
            aggregate_type="card",
            aggregate_id=card.public_id,
            payload={
                "topUpId": topup.public_id,
                "cardId": card.public_id,
                "holderId": card.holder_id,
                "invoiceId": invoice_id,
                "paymentId": payment_id,
                "amount_msat": amount_msat,
                "credited_msat": topup.credited_msat,
            },
            idempotency_key=f"{CARD_TOPUP_CREDITED_EVENT}:{invoice_id}:{payment_id}",
        )
    if card.status == Card.Status.CANCELED:
        # The holder's money still lands on the card's account; an operator refunds it from there.
        logger.warning("top-up %s credited to canceled card %s", topup.public_id, card.public_id)
    return topup
