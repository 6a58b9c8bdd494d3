"""Card top-ups: an invoice on FlashPay's node whose settlement credits the card (node -> card)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cards.locks import card_topup_lock
from cards.models import Card, CardTopUp
from cards.services.payments import card_account, lightning_backend, node_account
from flashpay.errors import Conflict, FieldError
from flashpay.events.services import event_emit
from flashpay.ledger.services import transaction_post
from lightning.backends.base import LightningBackend
from lightning.services import lightning_invoice_create

CARD_TOPUP_CREDITED_EVENT = "CardTopUpCredited"
MAX_TOPUP_MSAT = 10_000_000_000  # 0.1 BTC: a prepaid card is not a savings account


def card_topup_create(*, card: Card, amount_msat: int | None, backend: LightningBackend | None = None) -> CardTopUp:
    """Mint a top-up invoice for ``card`` (any amount when ``amount_msat`` is None).

    The node is called outside any transaction; the row is written only for an invoice the node
    has. The card is credited when the invoice settles (``card_topup_credit``).
    """
    if amount_msat is not None and (
        isinstance(amount_msat, bool) or not isinstance(amount_msat, int) or not 0 < amount_msat <= MAX_TOPUP_MSAT
    ):
        raise FieldError("amount_msat", f"must be a whole number of msat between 1 and {MAX_TOPUP_MSAT}")
    if card.status == Card.Status.CANCELED:
        raise Conflict("a canceled card cannot be topped up", code="card-canceled")
    invoice = lightning_invoice_create(
        backend=backend or lightning_backend(),
        amount_msat=amount_msat,
        memo=f"Flash Card top-up: {card.name}"[:639],
        expiry=settings.CARD_TOPUP_EXPIRY_SECONDS,
    )
    topup = CardTopUp(
        card=card,
        payment_hash=invoice.payment_hash,
        bolt11=invoice.bolt11,
        amount_msat=amount_msat,
        expires_at=invoice.expires_at,
    )
    topup.full_clean(validate_unique=False, validate_constraints=False)
    topup.save(force_insert=True)
    return topup


def card_topup_credit(*, payment_hash: str, amount_received_msat: int) -> CardTopUp | None:
    """Credit the card of a settled top-up invoice once (node -> card); None if the invoice is not
    a top-up. Idempotent by payment hash: the outbox may deliver the settled event twice."""
    with transaction.atomic():
        topup = card_topup_lock(payment_hash=payment_hash)
        if topup is None or topup.status == CardTopUp.Status.CREDITED:
            return topup
        if amount_received_msat <= 0:
            raise FieldError("amount_received_msat", "a settled top-up must have received money")
        transaction_post(
            entries=[(node_account(), -amount_received_msat), (card_account(card=topup.card), amount_received_msat)],
            idempotency_key=f"card-topup:{payment_hash}",
            description="Flash Card top-up",
            metadata={"type": "card_topup", "payment_hash": payment_hash, "card": topup.card.public_id},
        )
        topup.status = CardTopUp.Status.CREDITED
        topup.credited_msat = amount_received_msat
        topup.credited_at = timezone.now()
        topup.full_clean(validate_unique=False, validate_constraints=False)
        topup.save(update_fields=["status", "credited_msat", "credited_at"])
        event_emit(
            type=CARD_TOPUP_CREDITED_EVENT,
            aggregate_type="card",
            aggregate_id=topup.card.public_id,
            payload={
                "topUpId": topup.public_id,
                "cardId": topup.card.public_id,
                "holderId": topup.card.holder_id,
                "amount_msat": amount_received_msat,
                "payment_hash": payment_hash,
            },
            idempotency_key=f"{CARD_TOPUP_CREDITED_EVENT}:{payment_hash}",
        )
    return topup
