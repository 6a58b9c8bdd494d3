"""Credits to a Flash Card from the rewards program (points redeemed as sats on the card)."""

from __future__ import annotations

from django.db import transaction

from cards.locks import card_lock
from cards.models import Card
from flashpay.errors import Conflict, NotFound
from flashpay.ledger.accounts import card_account
from flashpay.ledger.models import Account, Transaction
from flashpay.ledger.services import transaction_post


def card_reward_credit(
    *,
    card_public_id: str,
    holder_id: int,
    from_account: Account,
    amount_msat: int,
    idempotency_key: str,
    description: str,
    reference: str,
) -> Transaction:
    """Move ``amount_msat`` from ``from_account`` (a member's available points) onto the card,
    in one ledger transaction, if the card is the holder's and active.

    Another holder's card answers like an unknown one (404), so card ids cannot be probed. The
    card row is locked so a freeze or cancel committed meanwhile is seen. Raises the ledger's
    InsufficientFunds when ``from_account`` lacks the money (nothing is written then).
    """
    card = Card.objects.filter(public_id=card_public_id, holder_id=holder_id).only("pk").first()
    if card is None:
        raise NotFound("card not found", code="card-not-found")
    with transaction.atomic():
        card = card_lock(pk=card.pk)
        if card.holder_id != holder_id:
            raise NotFound("card not found", code="card-not-found")
        if card.status != Card.Status.ACTIVE:
            raise Conflict(f"this card is {card.status}; points go only onto an active card", code="card-not-active")
        return transaction_post(
            entries=[(from_account, -amount_msat), (card_account(card_id=card.public_id, name=card.name), amount_msat)],
            idempotency_key=idempotency_key,
            description=description[:500],
            metadata={"type": "reward", "reference": reference, "card": card.public_id},
        )
