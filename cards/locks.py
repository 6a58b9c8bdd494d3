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
