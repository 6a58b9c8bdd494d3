"""Reads for cards: issuer key material, card keys, lookups, balances, spending room, history."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import CharField, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Concat
from django.utils import timezone

from cards import crypto
from cards.keys import open_key
from cards.models import Card, CardPayment, CardTopUp, IssuerKey, SettlementBatch
from flashpay.errors import NotFound
from flashpay.ledger.accounts import card_account_get, card_receivable_account_get
from flashpay.ledger.models import Entry
from flashpay.ledger.selectors import Balance, account_entry_list
from flashpay.money import Msat

# Path of the tap (LNURL-withdraw) endpoint written on every card; the tap view must be routed
# here (cards/urls.py, name "tap") because programmed cards keep this URL until re-programmed.
TAP_PATH = "/cards/tap"


def issuer_key_secret(*, issuer_key: IssuerKey) -> bytes:
    """The plaintext IssuerKey; keep it in memory only for the derivation at hand."""
    return open_key(blob=issuer_key.encrypted_key, ref=issuer_key.ref)


def issuer_key_active_get() -> IssuerKey | None:
    return IssuerKey.objects.filter(is_active=True).first()


def card_keys_get(*, card: Card) -> crypto.CardKeys:
    """K0..K4 of a programmed card at its current key version (deterministic, never stored)."""
    if not card.uid:
        raise NotFound("card has not been programmed", code="card-not-programmed")
    return crypto.derive_card_keys(
        issuer_key=issuer_key_secret(issuer_key=card.issuer_key),
        uid=bytes.fromhex(card.uid),
        version=card.key_version,
    )


def card_lnurlw_base() -> str:
    """``lnurlw://HOST/cards/tap`` with the host (and port) of FLASHPAY_BASE_URL (LUD-17 scheme)."""
    host = urlsplit(settings.FLASHPAY_BASE_URL).netloc
    return f"lnurlw://{host}{TAP_PATH}"


def card_get(*, public_id: str) -> Card:
    card = Card.objects.filter(public_id=public_id).first()
    if card is None:
        raise NotFound("card not found")
    return card


def card_list(*, holder=None, status: str | None = None) -> QuerySet[Card]:
    qs = Card.objects.select_related("holder").order_by("-pk")
    if holder is not None:
        qs = qs.filter(holder=holder)
    if status:
        qs = qs.filter(status=status)
    return qs


def activation_code_hash(code: str) -> str:
    """Normalised (upper case, no dashes or spaces) SHA-256 of an activation code."""
    normalised = "".join(code.split()).replace("-", "").upper()
    return hashlib.sha256(normalised.encode()).hexdigest()


def card_get_by_activation_code(*, code: str) -> Card:
    card = Card.objects.filter(activation_code_hash=activation_code_hash(code)).first()
    if card is None:
        raise NotFound("no card has this activation code", code="activation-code-unknown")
    return card


# --- money: balances, limits, history -------------------------------------------------------


def card_owed_msat(*, card: Card) -> int:
    """What the card's holder owes the program (a top-up taken back after it was spent)."""
    try:
        receivable = card_receivable_account_get(card_id=card.public_id)
    except NotFound:
        return 0
    return max(-receivable.posted_msat, 0)


def card_balance(*, card: Card) -> Balance:
    """Posted, reserved and available money of the card (zero before its first top-up)."""
    try:
        # One read: the account row carries the cached balances (kept in step by the ledger).
        account = card_account_get(card_id=card.public_id)
    except NotFound:
        return Balance(posted=Msat(0), pending_debit=Msat(0), pending_credit=Msat(0))
    return Balance(
        posted=Msat(account.posted_msat),
        pending_debit=Msat(account.pending_debit_msat),
        pending_credit=Msat(account.pending_credit_msat),
    )


def utc_day_start(now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def card_spent_today_msat(*, card: Card, now: datetime | None = None) -> int:
    """What counts against the daily limit: today's (UTC) payments that succeeded or may still
    succeed (pending holds), by amount paid to the merchant."""
    total = CardPayment.objects.filter(
        card_id=card.pk,
        created_at__gte=utc_day_start(now),
        status__in=[CardPayment.Status.PENDING, CardPayment.Status.SUCCEEDED],
    ).aggregate(total=Sum("amount_msat"))["total"]
    return int(total or 0)


def routing_fee_limit_msat(*, amount_msat: int) -> int:
    """The most a payment of ``amount_msat`` may cost in routing fees (reserved on the card)."""
    return settings.CARD_ROUTING_FEE_BASE_MSAT + amount_msat * settings.CARD_ROUTING_FEE_PPM // 1_000_000


def largest_payable_msat(*, available_msat: int) -> int:
    """The largest amount whose payment plus routing-fee reserve fits in ``available_msat``."""
    base, ppm = settings.CARD_ROUTING_FEE_BASE_MSAT, settings.CARD_ROUTING_FEE_PPM
    if available_msat <= base:
        return 0
    amount = (available_msat - base) * 1_000_000 // (1_000_000 + ppm)
    # Integer division can land one or two msat off either way: settle on the exact largest.
    while amount > 0 and amount + routing_fee_limit_msat(amount_msat=amount) > available_msat:
        amount -= 1
    while amount + 1 + routing_fee_limit_msat(amount_msat=amount + 1) <= available_msat:
        amount += 1
    return amount


@dataclass(frozen=True)
class SpendingRoom:
    """What a card may spend now, and which bound is the tightest (for a clear refusal)."""

    max_msat: int
    available_msat: int
    per_transaction_msat: int
    daily_left_msat: int

    @property
    def bound(self) -> str:
        if self.max_msat == self.daily_left_msat and self.daily_left_msat < self.per_transaction_msat:
            return "daily limit"
        if self.max_msat == self.per_transaction_msat:
            return "per-payment limit"
        return "balance"


def card_spending_room(*, card: Card, now: datetime | None = None) -> SpendingRoom:
    """maxWithdrawable of a tap: min(available balance net of fee reserve, per-transaction limit,
    what is left of today's limit)."""
    available = card_balance(card=card).available.value
    daily_left = max(0, card.daily_limit_msat - card_spent_today_msat(card=card, now=now))
    payable = largest_payable_msat(available_msat=available)
    return SpendingRoom(
        max_msat=max(0, min(payable, card.per_transaction_limit_msat, daily_left)),
        available_msat=available,
        per_transaction_msat=card.per_transaction_limit_msat,
        daily_left_msat=daily_left,
    )


def card_payment_for_hash(*, payment_hash: str) -> CardPayment | None:
    """The card payment of this Lightning invoice (payment hash), if a Flash Card paid it."""
    if not payment_hash:
        return None
    return CardPayment.objects.select_related("card").filter(payment_hash=payment_hash).first()


def card_payment_hashes_paid(*, payment_hashes: list[str]) -> set[str]:
    """Which of these payment hashes a Flash Card paid successfully."""
    hashes = [h for h in payment_hashes if h]
    if not hashes:
        return set()
    return set(
        CardPayment.objects.filter(payment_hash__in=hashes, status=CardPayment.Status.SUCCEEDED).values_list(
            "payment_hash", flat=True
        )
    )


def card_payment_pending_list(*, older_than_seconds: int = 0) -> QuerySet[CardPayment]:
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return CardPayment.objects.filter(
        status=CardPayment.Status.PENDING, created_at__lte=cutoff
    ).order_by("pk")


def card_payment_node_cancel_due_list(*, limit: int = 500) -> list[CardPayment]:
    """Internal payments whose invoice the node may still accept (not canceled there, not
    expired), oldest first."""
    return list(
        CardPayment.objects.filter(
            kind=CardPayment.Kind.INTERNAL,
            node_invoice_canceled_at__isnull=True,
            node_invoice_expires_at__gt=timezone.now(),
        ).order_by("pk")[:limit]
    )


@dataclass(frozen=True)
class HistoryItem:
    kind: str  # payment | topup | topup_reversal | refund | reward | adjustment
    amount_msat: int  # signed: positive adds to the card
    status: str  # pending | posted | voided
    description: str
    merchant_name: str
    created_at: datetime
    reference: str


_HISTORY_KIND_BY_METADATA = {
    "card_payment": "payment",
    "card_topup": "topup",
    "card_topup_reversal": "topup_reversal",
    "refund": "refund",
    "reward": "reward",
}


def card_history_entries(*, card: Card) -> QuerySet[Entry]:
    """The card's ledger entries, newest first, as a queryset (paginated in the database).

    The reserve of an external payment that went through is left out: the final posting of the
    same payment stands for it. A failed payment shows once, voided (its money came back).
    """
    try:
        account = card_account_get(card_id=card.public_id)
    except NotFound:
        return Entry.objects.none()
    # The reserve's ledger key is "card-payment-hold:<payment hash>" (cards.services.payments).
    replaced_reserves = (
        CardPayment.objects.filter(
            card_id=card.pk, kind=CardPayment.Kind.EXTERNAL, status=CardPayment.Status.SUCCEEDED
        )
        .annotate(reserve_key=Concat(Value("card-payment-hold:"), "payment_hash", output_field=CharField()))
        .values("reserve_key")
    )
    return account_entry_list(account=account).exclude(
        transaction__status="voided", transaction__idempotency_key__in=Subquery(replaced_reserves)
    )


def card_history_items(*, card: Card, entries) -> list[HistoryItem]:
    """History rows for a page of ``card_history_entries``, with merchant names."""
    entries = list(entries)
    hashes = [(e.transaction.metadata or {}).get("payment_hash", "") for e in entries]
    payments = {p.payment_hash: p for p in CardPayment.objects.filter(card_id=card.pk, payment_hash__in=[h for h in hashes if h])}
    items = []
    for entry in entries:
        txn = entry.transaction
        meta = txn.metadata or {}
        kind = _HISTORY_KIND_BY_METADATA.get(meta.get("type", ""), "adjustment")
        payment = payments.get(meta.get("payment_hash", "")) if kind == "payment" else None
        items.append(
            HistoryItem(
                kind=kind,
                amount_msat=entry.amount_msat,
                status=txn.status,
                description=txn.description,
                merchant_name=payment.merchant_name if payment else str(meta.get("merchant_name", "")),
                created_at=txn.created_at,
                reference=meta.get("payment_hash", "") or str(meta.get("invoiceId") or meta.get("reference", "")),
            )
        )
    return items


def card_history(*, card: Card) -> list[HistoryItem]:
    """The whole history (small cards, exports); the app API pages through the entries instead."""
    return card_history_items(card=card, entries=card_history_entries(card=card))


@dataclass(frozen=True)
class TopUpView:
    """A top-up as the Flash app shows it: its invoice, where to pay it, and what was credited."""

    topup: CardTopUp
    invoice_status: str
    checkout_link: str
    bolt11: str | None
    bitcoin_address: str | None
    payment_links: dict[str, str]


def card_topup_view(*, topup: CardTopUp) -> TopUpView:
    """The top-up with its invoice's payment prompts (through the invoices app's selectors)."""
    from invoices.selectors import checkout_link, invoice_get, invoice_payment_methods_data

    invoice = invoice_get(invoice_id=topup.invoice_id)
    methods = {m["paymentMethodId"]: m for m in invoice_payment_methods_data(invoice=invoice)}
    return TopUpView(
        topup=topup,
        invoice_status=invoice.status,
        checkout_link=checkout_link(invoice),
        bolt11=methods["BTC-LN"]["destination"] if "BTC-LN" in methods else None,
        bitcoin_address=methods["BTC-CHAIN"]["destination"] if "BTC-CHAIN" in methods else None,
        payment_links={method_id: m["paymentLink"] for method_id, m in methods.items()},
    )


def card_list_for_holder(*, user) -> QuerySet[Card]:
    return Card.objects.filter(holder=user).exclude(status=Card.Status.CANCELED).order_by("-pk")


def card_get_for_holder(*, user, public_id: str) -> Card:
    """The holder's own card; someone else's card is reported as not found (no probing)."""
    card = Card.objects.filter(holder=user, public_id=public_id).first()
    if card is None:
        raise NotFound("card not found", code="card-not-found")
    return card


def settlement_batch_payments(*, batch: SettlementBatch) -> QuerySet[CardPayment]:
    return batch.payments.select_related("card").order_by("pk")


def app_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def app_token_get_by_secret(*, token: str):
    """The live app token for this secret (looked up by its hash: an index probe, and the hash
    comparison inside the database leaks nothing useful about the secret)."""
    from cards.models import AppToken

    return (
        AppToken.objects.select_related("user")
        .filter(token_hash=app_token_hash(token), revoked_at__isnull=True)
        .first()
    )


def app_token_authenticate(*, token: str):
    """(user, app token) for a live app token of an active user, else None: what the Flash app's
    bearer authentication (cards' and rewards' endpoints) accepts."""
    app_token = app_token_get_by_secret(token=token)
    if app_token is None or not app_token.user.is_active:
        return None
    return app_token.user, app_token


SETTLEMENT_CSV_COLUMNS = [
    "batch_id", "store_id", "payment_id", "card_id", "paid_at", "payment_hash", "amount_msat", "fee_msat", "net_msat",
]


def settlement_batch_csv(*, batch: SettlementBatch) -> str:
    """One line per card payment in the batch (its share of the fee, rounded down), then a total
    line with the batch's own figures, which are what was paid."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(SETTLEMENT_CSV_COLUMNS)
    for payment in settlement_batch_payments(batch=batch):
        fee = payment.amount_msat * batch.fee_ppm // 1_000_000
        writer.writerow([
            batch.public_id, batch.store_id, payment.public_id, payment.card.public_id,
            (payment.finished_at or payment.created_at).isoformat(), payment.payment_hash,
            payment.amount_msat, fee, payment.amount_msat - fee,
        ])
    writer.writerow([batch.public_id, batch.store_id, "TOTAL", "", "", "", batch.gross_msat, batch.fee_msat, batch.net_msat])
    return out.getvalue()
