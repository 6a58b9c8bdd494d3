"""A stand-in for the invoices app's resolver (CARD_MERCHANT_RESOLVER): payment hash -> store id."""

STORES_BY_PAYMENT_HASH: dict[str, str] = {}


def resolve(*, payment_hash: str) -> str | None:
    return STORES_BY_PAYMENT_HASH.get(payment_hash)
