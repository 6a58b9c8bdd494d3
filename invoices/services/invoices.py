"""Writes of invoices: create (rate locked, addresses and BOLT11 minted), metadata, archive, manual marking, expiry."""
from __future__ import annotations

import logging
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal

from django.db import transaction
from django.utils import timezone

from flashpay.accounts.models import Store
from flashpay.errors import FieldError
from flashpay.money import Msat
from flashpay.payment_method_ids import payment_method_id_describe, payment_method_id_parse
from invoices import sql
from invoices.locks import invoice_lock
from invoices.models import (
    Invoice,
    InvoiceAdditionalStatus,
    InvoiceEvent,
    InvoicePaymentPrompt,
    InvoiceStatus,
    InvoiceType,
    PaymentMethodId,
    StorePaymentMethod,
    new_invoice_id,
)
from invoices.onchain.clients import bitcoind_client
from invoices.onchain.services import onchain_watch_address
from invoices.rates.selectors import rate_get
from invoices.selectors import BITCOIN_CURRENCIES, manual_marking_statuses
from invoices.services.lnurl import lnurl_encode, lnurl_pay_url
from invoices.services.payments import (
    invoice_evaluate,
    invoice_expire_if_due,
    invoice_monitoring_end_if_due,
)
from invoices.services.state import InvalidTransition, emit_created, invoice_transition
from invoices.services.store_payment_methods import store_lightning_backend
from lightning.services import lightning_invoice_create

logger = logging.getLogger(__name__)

S = InvoiceStatus
A = InvoiceAdditionalStatus
MAX_METADATA_BYTES = 64 * 1024
# BOLT11 descriptions are at most 639 bytes (BOLT #11 "d" field).
MAX_LN_DESCRIPTION = 639

def _choose_methods(*, store: Store, requested: list[str] | None) -> list[StorePaymentMethod]:
    enabled = {m.payment_method_id: m for m in sql.STORE_METHODS_BY_ENABLED.all([store.pk, True])}
    if requested is None:
        chosen = list(enabled.values())
    else:
        chosen = []
        for index, text in enumerate(requested):
            method_id = payment_method_id_parse(text)
            if method_id is None:
                raise FieldError(f"checkout.paymentMethods[{index}]", f"Unknown payment method {str(text)[:40]!r}: use {payment_method_id_describe()}")
            if method_id not in enabled:
                raise FieldError(f"checkout.paymentMethods[{index}]", f"{method_id} is not enabled on this store")
            if enabled[method_id] not in chosen:
                chosen.append(enabled[method_id])
    if not chosen:
        raise FieldError("checkout.paymentMethods", "The store has no enabled payment method: set up BTC-CHAIN or BTC-LN first")
    if any(m.payment_method_id == PaymentMethodId.BTC_LNURL for m in chosen) and PaymentMethodId.BTC_LN not in enabled:
        raise FieldError("checkout.paymentMethods", "BTC-LNURL needs the store's BTC-LN to be enabled")
    return sorted(chosen, key=lambda m: m.payment_method_id)


def _amount_msat(*, amount: Decimal, currency: str) -> tuple[int, Decimal | None]:
    """(msat due, locked rate or None). Fiat at the bid, rounded up to whole sats for the payer."""
    if currency in BITCOIN_CURRENCIES:
        msat = (amount * BITCOIN_CURRENCIES[currency]).to_integral_value(rounding=ROUND_UP)
        return int(msat), None
    rate = rate_get(pair=f"BTC_{currency}")  # RateUnavailable (422) names the pair
    msat = Msat.from_fiat(amount, rate=rate.value, rounding=ROUND_HALF_EVEN).value
    # whole sats, so the on-chain amount can be paid exactly
    msat = -(-msat // 1000) * 1000
    return msat, rate.value


def _ln_description(*, store: Store, invoice_id: str, metadata: dict) -> str:
    template = store.lightning_description_template or "Paid to {StoreName} (Order ID: {OrderId})"
    text = (
        template.replace("{StoreName}", store.name)
        .replace("{ItemDescription}", str(metadata.get("itemDesc") or ""))
        .replace("{OrderId}", str(metadata.get("orderId") or invoice_id))
        .replace("{InvoiceId}", invoice_id)
    )
    return text.encode()[:MAX_LN_DESCRIPTION].decode(errors="ignore")


def _search_text(*, invoice_id: str, metadata: dict, terms: list[str]) -> str:
    parts = [invoice_id, *terms]
    for key in ("orderId", "buyerEmail", "buyerName", "itemDesc", "itemCode"):
        value = metadata.get(key)
        if isinstance(value, str):
            parts.append(value)
    return " ".join(parts).lower()[:10000]


def invoice_create(
    *,
    store: Store,
    amount: Decimal | None,
    currency: str | None,
    metadata: dict | None = None,
    checkout: dict | None = None,
    receipt: dict | None = None,
    additional_search_terms: list[str] | None = None,
    actor: str = "api",
) -> Invoice:
    """Create an invoice the Greenfield way and mint its payment prompts.

    Order of work: validate and price everything (rate locked now), then call the nodes (a fresh
    address from the store's descriptor, a BOLT11 whose expiry is the invoice's) with no
    transaction open, then write the invoice, its prompts, its audit row and its InvoiceCreated
    event in one short transaction. A node failure leaves no invoice (at most an unused address).
    """
    metadata = dict(metadata or {})
    checkout = dict(checkout or {})
    receipt = dict(receipt or {})
    terms = [str(t) for t in (additional_search_terms or [])]
    currency = (currency or store.default_currency or "USD").strip().upper()
    if amount is not None and amount < 0:
        raise FieldError("amount", "The amount must not be negative")
    if amount is not None and amount == 0:
        raise FieldError("amount", "The amount must be more than zero (leave it out for a top-up invoice)")

    methods = _choose_methods(store=store, requested=checkout.get("paymentMethods"))
    default_method = checkout.get("defaultPaymentMethod")
    if default_method is not None:
        parsed = payment_method_id_parse(default_method)
        if parsed is None or parsed not in [m.payment_method_id for m in methods]:
            raise FieldError("checkout.defaultPaymentMethod", f"{str(default_method)[:40]!r} is not one of this invoice's payment methods")
        default_method = parsed.value

    if amount is None:
        amount_msat, rate, invoice_type = None, None, InvoiceType.TOP_UP
        if currency not in BITCOIN_CURRENCIES:
            rate = rate_get(pair=f"BTC_{currency}").value  # shows paid amounts in the currency
    else:
        amount_msat, rate = _amount_msat(amount=amount, currency=currency)
        invoice_type = InvoiceType.STANDARD
        if amount_msat <= 0:
            raise FieldError("amount", "The amount is too small to be paid in bitcoin")

    expiration_minutes = checkout.get("expirationMinutes")
    monitoring_minutes = checkout.get("monitoringMinutes")
    expiration = timedelta(minutes=expiration_minutes) if expiration_minutes is not None else timedelta(seconds=store.invoice_expiration)
    monitoring = timedelta(minutes=monitoring_minutes) if monitoring_minutes is not None else timedelta(seconds=store.monitoring_expiration)
    tolerance = checkout.get("paymentTolerance")
    tolerance = Decimal(str(tolerance)) if tolerance is not None else store.payment_tolerance
    speed_policy = checkout.get("speedPolicy") or store.speed_policy
    resolved_checkout = {
        "speedPolicy": speed_policy,
        "paymentMethods": [m.payment_method_id for m in methods],
        "defaultPaymentMethod": default_method or (store.default_payment_method or None),
        "lazyPaymentMethods": bool(checkout.get("lazyPaymentMethods") or False),
        "expirationMinutes": int(expiration.total_seconds() // 60),
        "monitoringMinutes": int(monitoring.total_seconds() // 60),
        "paymentTolerance": float(tolerance),
        "redirectURL": checkout.get("redirectURL"),
        "redirectAutomatically": checkout.get("redirectAutomatically")
        if checkout.get("redirectAutomatically") is not None
        else store.redirect_automatically,
        "defaultLanguage": checkout.get("defaultLanguage"),
    }
    resolved_receipt = {
        "enabled": receipt.get("enabled") if receipt.get("enabled") is not None else True,
        "showQR": receipt.get("showQR"),
        "showPayments": receipt.get("showPayments"),
    }

    invoice_id = new_invoice_id()
    now = timezone.now()
    expires_at = now + expiration
    prompts: list[InvoicePaymentPrompt] = []
    # Node calls: outside any transaction or lock (a slow node must not hold database locks).
    for method in methods:
        if method.payment_method_id == PaymentMethodId.BTC_CHAIN:
            watched = onchain_watch_address(client=bitcoind_client(), descriptor=method.onchain_descriptor)
            prompts.append(
                InvoicePaymentPrompt(
                    payment_method_id=PaymentMethodId.BTC_CHAIN,
                    destination=watched.address,
                    address=watched.address,
                    key_path=f"0/{watched.derivation_index}",
                )
            )
        elif method.payment_method_id == PaymentMethodId.BTC_LNURL:
            ln_method = StorePaymentMethod.objects.get(store=store, payment_method_id=PaymentMethodId.BTC_LN)
            prompts.append(
                InvoicePaymentPrompt(
                    payment_method_id=PaymentMethodId.BTC_LNURL,
                    destination=lnurl_encode(
                        lnurl_pay_url(invoice_id), bech32_scheme=bool(method.lnurl_options.get("useBech32Scheme"))
                    ),
                    internal_node=ln_method.internal_node,
                )
            )
        else:
            ln = lightning_invoice_create(
                backend=store_lightning_backend(method=method),
                amount_msat=amount_msat,
                memo=_ln_description(store=store, invoice_id=invoice_id, metadata=metadata),
                expiry=max(int(expiration.total_seconds()), 1),
            )
            prompts.append(
                InvoicePaymentPrompt(
                    payment_method_id=PaymentMethodId.BTC_LN,
                    destination=ln.bolt11,
                    payment_hash=ln.payment_hash,
                    internal_node=method.internal_node,
                )
            )

    invoice = Invoice(
        id=invoice_id,
        store=store,
        type=invoice_type,
        amount=amount,
        currency=currency,
        rate=rate,
        amount_msat=amount_msat,
        metadata=metadata,
        order_id=str(metadata.get("orderId") or "")[:500],
        checkout=resolved_checkout,
        receipt=resolved_receipt,
        speed_policy=speed_policy,
        payment_tolerance=tolerance,
        additional_search_terms=terms,
        search_text=_search_text(invoice_id=invoice_id, metadata=metadata, terms=terms),
        created_at=now,
        expires_at=expires_at,
        monitoring_expires_at=expires_at + monitoring,
        updated_at=now,
    )
    # Field checks only: the database enforces the check and unique constraints, and the store
    # is in hand (validating them here would cost a query each, on the busiest write path).
    invoice.full_clean(exclude=["store"], validate_unique=False, validate_constraints=False)
    for prompt in prompts:
        prompt.invoice = invoice
        prompt.full_clean(exclude=["invoice"], validate_unique=False, validate_constraints=False)
    audit = InvoiceEvent(
        invoice=invoice, from_status="", from_additional_status="", to_status=S.NEW,
        to_additional_status=A.NONE, actor=actor[:200], reason="created",
    )
    audit.full_clean(exclude=["invoice"])
    with transaction.atomic():
        sql.INSERT_INVOICE.execute([invoice])
        sql.INSERT_PROMPTS.execute(prompts)
        sql.INSERT_INVOICE_EVENTS.execute([audit])
        emit_created(invoice)
    return invoice


def invoice_metadata_update(*, invoice: Invoice, metadata: dict, actor: str) -> Invoice:
    """Greenfield PUT: replace the metadata (orderId and search text follow)."""
    if not isinstance(metadata, dict):
        raise FieldError("metadata", "Must be a JSON object")
    with transaction.atomic():
        locked = invoice_lock(invoice_id=invoice.pk)
        locked.metadata = metadata
        locked.order_id = str(metadata.get("orderId") or "")[:500]
        locked.search_text = _search_text(invoice_id=locked.pk, metadata=metadata, terms=locked.additional_search_terms)
        locked.updated_at = timezone.now()
        locked.full_clean(exclude=["store"], validate_unique=False, validate_constraints=False)
        locked.save(update_fields=["metadata", "order_id", "search_text", "updated_at"])
    return locked


def invoice_archive_set(*, invoice: Invoice, archived: bool) -> Invoice:
    """Greenfield DELETE (archive) and unarchive: hides the invoice from lists, nothing else."""
    with transaction.atomic():
        locked = invoice_lock(invoice_id=invoice.pk)
        if locked.archived != archived:
            locked.archived = archived
            locked.updated_at = timezone.now()
            locked.save(update_fields=["archived", "updated_at"])
    return locked


def invoice_mark_status(*, invoice: Invoice, status: str, actor: str) -> Invoice:
    """Greenfield POST .../status: mark Settled or Invalid by hand (additional status Marked)."""
    if status not in (S.SETTLED, S.INVALID):
        raise FieldError("status", "Must be Settled or Invalid")
    with transaction.atomic():
        locked = invoice_lock(invoice_id=invoice.pk)
        if status not in manual_marking_statuses(locked):
            raise InvalidTransition(f"A {locked.status} invoice cannot be marked {status}")
        invoice_transition(
            invoice=locked, status=status, additional_status=A.MARKED, actor=actor, reason=f"marked {status} by hand"
        )
    return locked


def invoices_expire(*, now=None, batch: int = 500) -> int:
    """The scheduled expiry: New -> Expired past expiration; monitoring over -> Invalid. Returns changes.

    Each invoice is handled in its own short transaction under its row lock, so a payment being
    recorded at the same moment is serialised with it.
    """
    now = now or timezone.now()
    changed = 0
    due_new = list(
        Invoice.objects.filter(status=S.NEW, expires_at__lte=now).order_by("expires_at").values_list("pk", flat=True)[:batch]
    )
    due_monitoring = list(
        Invoice.objects.filter(status__in=[S.PROCESSING, S.EXPIRED], monitoring_expires_at__lte=now)
        .exclude(status=S.EXPIRED, additional_status__in=[A.NONE, A.PAID_LATE, A.MARKED])
        .order_by("monitoring_expires_at")
        .values_list("pk", flat=True)[:batch]
    )
    for invoice_id in due_new + due_monitoring:
        with transaction.atomic():
            invoice = invoice_lock(invoice_id=invoice_id)
            before = (invoice.status, invoice.additional_status)
            invoice_expire_if_due(invoice=invoice, now=now)
            invoice_monitoring_end_if_due(invoice=invoice, now=now)
            if (invoice.status, invoice.additional_status) != before:
                changed += 1
    return changed


__all__ = [
    "invoice_archive_set",
    "invoice_create",
    "invoice_evaluate",
    "invoice_mark_status",
    "invoice_metadata_update",
    "invoices_expire",
]
