"""Writes of invoices: create (rate locked, addresses and BOLT11 minted), metadata, archive, manual marking, expiry."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal

from django.db import transaction
from django.utils import timezone

from flashpay.accounts.models import DEFAULT_LIGHTNING_DESCRIPTION_TEMPLATE, Store
from flashpay.accounts.selectors import receipt_options
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
from invoices.rates.errors import InvalidCurrencyPair, RateUnavailable
from invoices.rates.selectors import store_rate_get
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


# ---------------------------------------------------------------------------- invoice_create, step by step
# Order of work: validate and price everything (rate locked now), then call the nodes, then
# write. Each step below is one of them; invoice_create reads as the list.


@dataclass(frozen=True)
class _Price:
    """What the invoice asks for: msat due (None for a top-up), the locked rate (None in bitcoin)."""

    amount_msat: int | None
    rate: Decimal | None
    type: str


@dataclass(frozen=True)
class _CheckoutTerms:
    """The checkout options resolved against the store's defaults, as Greenfield shows them."""

    data: dict
    expiration: timedelta
    monitoring: timedelta
    tolerance: Decimal
    speed_policy: str


def _check_amount(amount: Decimal | None) -> None:
    if amount is not None and amount < 0:
        raise FieldError("amount", "The amount must not be negative")
    if amount is not None and amount == 0:
        raise FieldError("amount", "The amount must be more than zero (leave it out for a top-up invoice)")


def _enabled_methods(*, store: Store) -> dict[str, StorePaymentMethod]:
    """The store's enabled payment methods by id, with their on-chain descriptors (one query)."""
    return {m.payment_method_id: m for m in sql.STORE_METHODS_BY_ENABLED.all([store.pk, True])}


def _choose_methods(*, enabled: dict[str, StorePaymentMethod], requested: list[str] | None) -> list[StorePaymentMethod]:
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


def _default_method(*, requested) -> str | None:
    """checkout.defaultPaymentMethod as an id. As in BTCPay, one it cannot read is left out, and
    one the invoice does not offer is kept: the checkout then opens on the first method it has."""
    if requested is None:
        return None
    parsed = payment_method_id_parse(requested)
    return parsed.value if parsed is not None else None


def _criteria_limit_msat(*, store: Store, criterion: dict) -> int | None:
    """A payment method criterion's amount in msat, or None when no rate prices it now."""
    amount, code = Decimal(criterion["amount"]), criterion["currencyCode"].upper()
    if code in BITCOIN_CURRENCIES:
        return int(amount * BITCOIN_CURRENCIES[code])
    try:
        rate = store_rate_get(store=store, pair=f"BTC_{code}").value
    except (RateUnavailable, InvalidCurrencyPair):
        return None
    return Msat.from_fiat(amount, rate=rate, rounding=ROUND_HALF_EVEN).value


def _meet_criteria(*, store: Store, methods: list[StorePaymentMethod], price: _Price) -> list[StorePaymentMethod]:
    """The methods whose store criteria this invoice meets (Greenfield paymentMethodCriteria).

    As in BTCPay: a method with an "above" criterion is offered only when the invoice asks for at
    least that amount, one with a "below" criterion only when it asks for no more; a criterion no
    rate can price now withholds its method; a top-up (no amount) is offered every method.
    """
    criteria = {item["paymentMethodId"]: item for item in (store.payment_method_criteria or [])}
    if price.amount_msat is None or not criteria:
        return methods
    offered = []
    for method in methods:
        criterion = criteria.get(method.payment_method_id)
        if criterion is not None:
            limit = _criteria_limit_msat(store=store, criterion=criterion)
            if limit is None:
                continue
            if criterion.get("above") and price.amount_msat < limit:
                continue
            if not criterion.get("above") and price.amount_msat > limit:
                continue
        offered.append(method)
    if not offered:
        raise FieldError(
            "checkout.paymentMethods",
            "No payment method of the store is offered for this amount (see the store's paymentMethodCriteria)",
        )
    return offered


def _amount_msat(*, store: Store, amount: Decimal, currency: str) -> tuple[int, Decimal | None]:
    """(msat due, locked rate or None). Fiat at the bid, rounded up to whole sats for the payer."""
    if currency in BITCOIN_CURRENCIES:
        msat = (amount * BITCOIN_CURRENCIES[currency]).to_integral_value(rounding=ROUND_UP)
        return int(msat), None
    rate = store_rate_get(store=store, pair=f"BTC_{currency}")  # RateUnavailable (422) names the pair
    msat = Msat.from_fiat(amount, rate=rate.value, rounding=ROUND_HALF_EVEN).value
    # whole sats, so the on-chain amount can be paid exactly
    msat = -(-msat // 1000) * 1000
    return msat, rate.value


def _lock_price(*, store: Store, amount: Decimal | None, currency: str) -> _Price:
    """Price the invoice now: the rate is locked on it for its whole life."""
    if amount is None:
        # a top-up takes any amount; the rate still shows paid amounts in the currency
        rate = store_rate_get(store=store, pair=f"BTC_{currency}").value if currency not in BITCOIN_CURRENCIES else None
        return _Price(amount_msat=None, rate=rate, type=InvoiceType.TOP_UP)
    amount_msat, rate = _amount_msat(store=store, amount=amount, currency=currency)
    if amount_msat <= 0:
        raise FieldError("amount", "The amount is too small to be paid in bitcoin")
    return _Price(amount_msat=amount_msat, rate=rate, type=InvoiceType.STANDARD)


def _resolve_checkout(
    *, store: Store, checkout: dict, methods: list[StorePaymentMethod], default_method: str | None
) -> _CheckoutTerms:
    expiration_minutes = checkout.get("expirationMinutes")
    monitoring_minutes = checkout.get("monitoringMinutes")
    expiration = timedelta(minutes=expiration_minutes) if expiration_minutes is not None else timedelta(seconds=store.invoice_expiration)
    monitoring = timedelta(minutes=monitoring_minutes) if monitoring_minutes is not None else timedelta(seconds=store.monitoring_expiration)
    tolerance = checkout.get("paymentTolerance")
    tolerance = Decimal(str(tolerance)) if tolerance is not None else store.payment_tolerance
    speed_policy = checkout.get("speedPolicy") or store.speed_policy
    data = {
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
    return _CheckoutTerms(
        data=data, expiration=expiration, monitoring=monitoring, tolerance=tolerance, speed_policy=speed_policy
    )


def _resolve_receipt(*, store: Store, receipt: dict) -> dict:
    """The invoice's receipt options, else the store's, else BTCPay's defaults (all true)."""
    return receipt_options(receipt, store.receipt)


def _ln_description(*, store: Store, invoice_id: str, metadata: dict) -> str:
    template = store.lightning_description_template or DEFAULT_LIGHTNING_DESCRIPTION_TEMPLATE
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


def _new_invoice(
    *,
    store: Store,
    amount: Decimal | None,
    currency: str,
    price: _Price,
    terms: _CheckoutTerms,
    receipt: dict,
    metadata: dict,
    search_terms: list[str],
) -> Invoice:
    """The invoice row, not yet written, its times counted from now."""
    invoice_id = new_invoice_id()
    now = timezone.now()
    expires_at = now + terms.expiration
    return Invoice(
        id=invoice_id,
        store=store,
        type=price.type,
        amount=amount,
        currency=currency,
        rate=price.rate,
        amount_msat=price.amount_msat,
        metadata=metadata,
        order_id=str(metadata.get("orderId") or "")[:500],
        checkout=terms.data,
        receipt=receipt,
        speed_policy=terms.speed_policy,
        payment_tolerance=terms.tolerance,
        additional_search_terms=search_terms,
        search_text=_search_text(invoice_id=invoice_id, metadata=metadata, terms=search_terms),
        created_at=now,
        expires_at=expires_at,
        monitoring_expires_at=expires_at + terms.monitoring,
        updated_at=now,
    )


def _reserve_address(*, method: StorePaymentMethod) -> InvoicePaymentPrompt:
    """BTC-CHAIN: the next fresh address of the store's wallet, covered by the node's import."""
    watched = onchain_watch_address(client=bitcoind_client(), descriptor=method.onchain_descriptor)
    return InvoicePaymentPrompt(
        payment_method_id=PaymentMethodId.BTC_CHAIN,
        destination=watched.address,
        address=watched.address,
        key_path=f"0/{watched.derivation_index}",
    )


def _lnurl_prompt(*, invoice: Invoice, method: StorePaymentMethod, ln_method: StorePaymentMethod) -> InvoicePaymentPrompt:
    """BTC-LNURL: the invoice's LNURL-pay link; its BOLT11s are minted per callback, on the BTC-LN node."""
    return InvoicePaymentPrompt(
        payment_method_id=PaymentMethodId.BTC_LNURL,
        destination=lnurl_encode(
            lnurl_pay_url(invoice.pk), bech32_scheme=bool(method.lnurl_options.get("useBech32Scheme"))
        ),
        internal_node=ln_method.internal_node,
    )


def _mint_bolt11(*, store: Store, invoice: Invoice, method: StorePaymentMethod, expiry: timedelta) -> InvoicePaymentPrompt:
    """BTC-LN: a BOLT11 for the amount due (any amount for a top-up) that expires with the invoice."""
    ln = lightning_invoice_create(
        backend=store_lightning_backend(method=method),
        amount_msat=invoice.amount_msat,
        memo=_ln_description(store=store, invoice_id=invoice.pk, metadata=invoice.metadata),
        expiry=max(int(expiry.total_seconds()), 1),
    )
    return InvoicePaymentPrompt(
        payment_method_id=PaymentMethodId.BTC_LN,
        destination=ln.bolt11,
        payment_hash=ln.payment_hash,
        internal_node=method.internal_node,
    )


def _mint_prompts(
    *,
    store: Store,
    invoice: Invoice,
    methods: list[StorePaymentMethod],
    enabled: dict[str, StorePaymentMethod],
    expiry: timedelta,
) -> list[InvoicePaymentPrompt]:
    """One payment prompt per method. Node calls: outside any transaction or lock (a slow node
    must not hold database locks)."""
    prompts = []
    for method in methods:
        if method.payment_method_id == PaymentMethodId.BTC_CHAIN:
            prompt = _reserve_address(method=method)
        elif method.payment_method_id == PaymentMethodId.BTC_LNURL:
            prompt = _lnurl_prompt(invoice=invoice, method=method, ln_method=enabled[PaymentMethodId.BTC_LN])
        else:
            prompt = _mint_bolt11(store=store, invoice=invoice, method=method, expiry=expiry)
        prompt.invoice = invoice
        prompts.append(prompt)
    return prompts


def _write_created(*, invoice: Invoice, prompts: list[InvoicePaymentPrompt], actor: str) -> None:
    """The invoice, its prompts, its audit row and its InvoiceCreated event, in one short transaction."""
    for prompt in prompts:
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
    metadata, checkout = dict(metadata or {}), dict(checkout or {})
    currency = (currency or store.default_currency or "USD").strip().upper()
    _check_amount(amount)
    enabled = _enabled_methods(store=store)
    methods = _choose_methods(enabled=enabled, requested=checkout.get("paymentMethods"))
    default_method = _default_method(requested=checkout.get("defaultPaymentMethod"))
    price = _lock_price(store=store, amount=amount, currency=currency)
    methods = _meet_criteria(store=store, methods=methods, price=price)
    terms = _resolve_checkout(store=store, checkout=checkout, methods=methods, default_method=default_method)
    invoice = _new_invoice(
        store=store, amount=amount, currency=currency, price=price, terms=terms,
        receipt=_resolve_receipt(store=store, receipt=dict(receipt or {})), metadata=metadata,
        search_terms=[str(t) for t in (additional_search_terms or [])],
    )
    # Field checks only, before any node is called: the database enforces the check and unique
    # constraints, and the store is in hand (validating them here would cost a query each, on
    # the busiest write path).
    invoice.full_clean(exclude=["store"], validate_unique=False, validate_constraints=False)
    prompts = _mint_prompts(store=store, invoice=invoice, methods=methods, enabled=enabled, expiry=terms.expiration)
    _write_created(invoice=invoice, prompts=prompts, actor=actor)
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
