"""Row-lock helpers for cards: call inside transaction.atomic() at the outermost service."""

from __future__ import annotations

from cards.models import Card, IssuerKey, ProgrammingLink


def card_lock(*, pk: int) -> Card:
    """Lock one card row for a read-then-write on its status, keys or counter."""
    return Card.objects.select_for_update(no_key=True, of=("self",)).get(pk=pk)


def programming_link_lock(*, token_hash: str) -> ProgrammingLink:
    """Lock a programming link by its token hash (raises DoesNotExist when unknown).

    Always taken before the card lock: link, then card, in every service that takes both.
    """
    return ProgrammingLink.objects.select_for_update(no_key=True, of=("self",)).get(
        token_hash=token_hash
    )


def issuer_keys_lock_all() -> list[IssuerKey]:
    """Lock every issuer key in a stable order (activation flips two rows at once)."""
    return list(IssuerKey.objects.select_for_update(no_key=True).order_by("pk"))


def withdraw_request_lock(*, k1_hash: str):
    """Lock a tap's withdraw request by its k1 hash (raises DoesNotExist when unknown).

    Taken before the card lock in the callback: request, then card.
    """
    from cards.models import WithdrawRequest

    return WithdrawRequest.objects.select_for_update(no_key=True, of=("self",)).get(k1_hash=k1_hash)


def card_payment_lock(*, pk: int):
    """Lock a card payment for its pending -> succeeded/failed transition."""
    from cards.models import CardPayment

    return CardPayment.objects.select_for_update(no_key=True, of=("self",)).select_related("card").get(pk=pk)


def settlement_batch_lock(*, pk: int):
    from cards.models import SettlementBatch

    return SettlementBatch.objects.select_for_update(no_key=True, of=("self",)).get(pk=pk)


def card_topup_lock(*, invoice_id: str):
    """Lock a top-up by its invoice id; None when the invoice is not a top-up."""
    from cards.models import CardTopUp

    return (
        CardTopUp.objects.select_for_update(no_key=True, of=("self",))
        .select_related("card")
        .filter(invoice_id=invoice_id)
        .first()
    )
