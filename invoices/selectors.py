"""Reads of the invoices app: Greenfield shapes of invoices, payments and payment methods, lists, checkout data."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from flashpay.accounts.selectors import receipt_options
from flashpay.errors import NotFound
from flashpay.money import MSAT_PER_BTC, MSAT_PER_SAT
from flashpay.payment_method_ids import payment_method_id_parse
from invoices.models import (
    Invoice,
    InvoiceAdditionalStatus,
    InvoicePayment,
    InvoicePaymentPrompt,
    InvoicePaymentStatus,
    InvoiceStatus,
    InvoiceType,
    PaymentMethodId,
    StorePaymentMethod,
)

# Currencies counted in bitcoin directly: no rate is locked for them.
BITCOIN_CURRENCIES = {"BTC": MSAT_PER_BTC, "SATS": MSAT_PER_SAT}
SPEED_POLICY_CONFIRMATIONS = {"HighSpeed": 0, "MediumSpeed": 1, "LowMediumSpeed": 2, "LowSpeed": 6}
# Fiat shown with two decimals; Greenfield amounts are decimal strings.
FIAT_PLACES = Decimal("0.01")


def unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def btc_text(msat: int) -> str:
    """A BTC amount as Greenfield prints it: 8 decimals, or 11 when msat precision matters (Lightning)."""
    places = 8 if msat % MSAT_PER_SAT == 0 else 11
    return f"{Decimal(msat) / MSAT_PER_BTC:.{places}f}"


def currency_amount_text(*, invoice: Invoice, msat: int) -> str:
    """``msat`` in the invoice currency (at the locked rate), as a decimal string."""
    if invoice.currency == "BTC":
        return btc_text(msat)
    if invoice.currency == "SATS":
        return _plain(Decimal(msat) / MSAT_PER_SAT)
    if invoice.rate is None:
        return "0"
    value = (Decimal(msat) * invoice.rate / MSAT_PER_BTC).quantize(FIAT_PLACES, rounding=ROUND_HALF_EVEN)
    return f"{value:f}"


def _plain(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text


def invoice_amount_text(invoice: Invoice) -> str:
    if invoice.amount is None:
        return "0"
    if invoice.currency == "BTC":
        sats = invoice.amount.quantize(Decimal("0.00000001"))
        return f"{sats:f}" if sats == invoice.amount else _plain(invoice.amount)  # msat precision kept
    if invoice.currency == "SATS":
        return _plain(invoice.amount)
    amount = invoice.amount
    if amount == amount.quantize(FIAT_PLACES):
        return f"{amount.quantize(FIAT_PLACES):f}"
    return _plain(amount)


def required_confirmations(speed_policy: str) -> int:
    return SPEED_POLICY_CONFIRMATIONS.get(speed_policy, 1)


# ---------------------------------------------------------------------------- sums


@dataclass(frozen=True)
class Paid:
    accounted_msat: int  # every payment not invalidated (seen or confirmed)
    settled_msat: int  # payments confirmed enough for the speed policy (Lightning: at once)


def invoice_paid(*, invoice: Invoice, payments: list[InvoicePayment] | None = None) -> Paid:
    payments = list(invoice.payments.all()) if payments is None else payments
    accounted = sum(p.amount_msat for p in payments if p.status != InvoicePaymentStatus.INVALID)
    settled = sum(p.amount_msat for p in payments if p.status == InvoicePaymentStatus.SETTLED)
    return Paid(accounted_msat=accounted, settled_msat=settled)


def lightning_prompt_asked_msat(*, invoice: Invoice, prompt: InvoicePaymentPrompt) -> int | None:
    """What a BTC-LN prompt's BOLT11 asks for (None: any amount, a top-up's)."""
    return prompt.amount_msat if prompt.amount_msat is not None else invoice.amount_msat


def invoice_lightning_prompt_current(*, invoice: Invoice, prompt: InvoicePaymentPrompt, paid_msat: int) -> bool:
    """False when a New invoice's BOLT11 asks for other than what is due (it was minted before a
    partial payment, or before one was reorged out): paying it would overpay or fall short, so it
    is not offered until invoices/services/remainder.py has minted one for the rest."""
    if prompt.payment_method_id != PaymentMethodId.BTC_LN or invoice.status != InvoiceStatus.NEW or invoice.amount_msat is None:
        return True
    due = invoice.amount_msat - paid_msat
    return due <= 0 or lightning_prompt_asked_msat(invoice=invoice, prompt=prompt) == due


def invoice_needed_msat(invoice: Invoice) -> int:
    """What must arrive for the invoice to count as paid: the amount less the tolerance (rounded down)."""
    if invoice.amount_msat is None:
        return 1  # TopUp: any payment
    allowance = (Decimal(invoice.amount_msat) * invoice.payment_tolerance / 100).to_integral_value(rounding="ROUND_FLOOR")
    return max(invoice.amount_msat - int(allowance), 0)


# ---------------------------------------------------------------------------- Greenfield shapes


def payment_data(payment: InvoicePayment) -> dict:
    """Greenfield ``Payment``."""
    return {
        "id": payment.payment_id,
        "receivedDate": unix(payment.received_at),
        "value": btc_text(payment.amount_msat),
        "fee": "0.00000000",
        "status": payment.status,
        "destination": payment.prompt.destination if payment.prompt_id else "",
    }


def manual_marking_statuses(invoice: Invoice) -> list[str]:
    """``availableStatusesForManualMarking``: BTCPay's rules (Settled/Invalid, not the current one)."""
    status, extra = invoice.status, invoice.additional_status
    out = []
    if status in (InvoiceStatus.NEW, InvoiceStatus.PROCESSING, InvoiceStatus.EXPIRED, InvoiceStatus.INVALID):
        out.append(InvoiceStatus.SETTLED.value)
    if status in (InvoiceStatus.NEW, InvoiceStatus.PROCESSING, InvoiceStatus.EXPIRED) or (
        status == InvoiceStatus.SETTLED and extra == InvoiceAdditionalStatus.MARKED
    ):
        out.append(InvoiceStatus.INVALID.value)
    return out


def checkout_link(invoice: Invoice) -> str:
    return f"{settings.FLASHPAY_BASE_URL.rstrip('/')}/i/{invoice.pk}"


def invoice_data(invoice: Invoice, *, payments: list[InvoicePayment] | None = None) -> dict:
    """Greenfield ``InvoiceData``."""
    paid = invoice_paid(invoice=invoice, payments=payments)
    paid_text = currency_amount_text(invoice=invoice, msat=paid.accounted_msat)
    amount_text = invoice_amount_text(invoice)
    if invoice.type == InvoiceType.TOP_UP and invoice.status in (InvoiceStatus.PROCESSING, InvoiceStatus.SETTLED):
        # Greenfield: a top-up's amount is what was paid (zero when it was paid after expiry)
        amount_text = paid_text
    return {
        "id": invoice.pk,
        "storeId": invoice.store_id,
        "amount": amount_text,
        "paidAmount": paid_text,
        "currency": invoice.currency,
        "type": invoice.type,
        "checkoutLink": checkout_link(invoice),
        "createdTime": unix(invoice.created_at),
        "expirationTime": unix(invoice.expires_at),
        "monitoringExpiration": unix(invoice.monitoring_expires_at),
        "status": invoice.status,
        "additionalStatus": invoice.additional_status,
        "availableStatusesForManualMarking": manual_marking_statuses(invoice),
        "archived": invoice.archived,
        "metadata": invoice.metadata,
        "checkout": invoice.checkout,
        # resolved at creation; invoices made before that kept nulls for the defaults
        "receipt": receipt_options(invoice.receipt),
    }


def invoice_rate_text(invoice: Invoice) -> str:
    """The rate locked on the invoice as Greenfield writes it (BTC per BTC is 1, sats per BTC 1e8)."""
    if invoice.currency == "BTC":
        return "1"
    if invoice.currency == "SATS":
        return "100000000"
    return f"{invoice.rate.normalize():f}" if invoice.rate is not None else "0"


def payment_method_data(
    *, invoice: Invoice, prompt: InvoicePaymentPrompt, payments: list[InvoicePayment], include_sensitive: bool = False
) -> dict:
    """Greenfield ``InvoicePaymentMethodDataModel`` of one prompt."""
    paid = invoice_paid(invoice=invoice, payments=payments)
    # by method, not by prompt: payments to a BOLT11 since replaced (superseded) still count here
    mine = [p for p in payments if p.payment_method_id == prompt.payment_method_id]
    method_paid = sum(p.amount_msat for p in mine if p.status != InvoicePaymentStatus.INVALID)
    amount = invoice.amount_msat if invoice.amount_msat is not None else paid.accounted_msat
    due = amount - paid.accounted_msat if invoice.amount_msat is not None else 0
    if prompt.payment_method_id == PaymentMethodId.BTC_CHAIN:
        link = f"bitcoin:{prompt.destination}"
        if due > 0:
            link += f"?amount={btc_text(due - due % MSAT_PER_SAT + (MSAT_PER_SAT if due % MSAT_PER_SAT else 0))}"
        additional = {
            "keyPath": prompt.key_path,
            "payjoinEnabled": False,
            "accountDerivation": None,
        }
        if include_sensitive:
            method = StorePaymentMethod.objects.filter(
                store_id=invoice.store_id, payment_method_id=PaymentMethodId.BTC_CHAIN
            ).first()
            additional["accountDerivation"] = method.derivation_scheme if method else None
    elif prompt.payment_method_id == PaymentMethodId.BTC_LNURL:
        link = f"lightning:{prompt.destination}"
        comments = [row.comment for row in prompt.lnurl_invoices.all() if row.comment]
        additional = {"providedComment": comments[-1] if comments else None, "consumedLightningAddress": None}
    else:
        link = f"lightning:{prompt.destination}"
        additional = {}
    return {
        "paymentMethodId": prompt.payment_method_id,
        "currency": "BTC",
        "destination": prompt.destination,
        "paymentLink": link,
        "rate": invoice_rate_text(invoice),
        "paymentMethodPaid": btc_text(method_paid),
        "totalPaid": btc_text(paid.accounted_msat),
        "due": btc_text(due) if due >= 0 else f"-{btc_text(-due)}",
        "amount": btc_text(amount),
        "paymentMethodFee": "0.00000000",
        "payments": [payment_data(p) for p in mine],
        # a BOLT11 for an amount no longer due is not offered until its replacement is minted
        "activated": invoice_lightning_prompt_current(invoice=invoice, prompt=prompt, paid_msat=paid.accounted_msat),
        "additionalData": additional,
    }


def invoice_payment_methods_data(*, invoice: Invoice, only_accounted: bool = True, include_sensitive: bool = False) -> list[dict]:
    payments = list(invoice.payments.select_related("prompt").order_by("pk"))
    shown = [p for p in payments if not only_accounted or p.status != InvoicePaymentStatus.INVALID]
    return [
        payment_method_data(invoice=invoice, prompt=prompt, payments=shown, include_sensitive=include_sensitive)
        # the current prompt of each method (a replaced BOLT11's payments show under its method)
        for prompt in invoice.prompts.filter(superseded_at__isnull=True).order_by("payment_method_id")
    ]


# ---------------------------------------------------------------------------- reads


def invoice_get(*, invoice_id: str, store_id: str | None = None) -> Invoice:
    """The invoice; 404 when it does not exist or (with ``store_id``) belongs to another store."""
    query = Invoice.objects.filter(pk=invoice_id)
    if store_id is not None:
        query = query.filter(store_id=store_id)
    invoice = query.first()
    if invoice is None:
        raise NotFound("The invoice was not found", code="invoice-not-found")
    return invoice


def invoice_list(
    *,
    store_id: str,
    order_ids: list[str] | None = None,
    statuses: list[str] | None = None,
    text_search: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    skip: int = 0,
    take: int | None = None,
    include_archived: bool = False,
) -> QuerySet[Invoice]:
    query = Invoice.objects.filter(store_id=store_id)
    if not include_archived:
        query = query.filter(archived=False)
    if order_ids:
        query = query.filter(order_id__in=order_ids)
    if statuses:
        query = query.filter(status__in=statuses)
    if text_search:
        term = text_search.strip()
        query = query.filter(Q(pk=term) | Q(order_id=term) | Q(search_text__icontains=term.lower()))
    if start is not None:
        query = query.filter(created_at__gte=start)
    if end is not None:
        query = query.filter(created_at__lte=end)
    query = query.order_by("-created_at", "-pk")
    if take is not None:
        return query[skip : skip + take]
    return query[skip:]


def store_payment_method_list(*, store_id: str, only_enabled: bool = False) -> list[StorePaymentMethod]:
    query = StorePaymentMethod.objects.filter(store_id=store_id).order_by("payment_method_id")
    if only_enabled:
        query = query.filter(enabled=True)
    return list(query)


def store_payment_method_get(*, store_id: str, payment_method_id: str) -> StorePaymentMethod:
    method_id = payment_method_id_parse(payment_method_id)
    method = (
        StorePaymentMethod.objects.filter(store_id=store_id, payment_method_id=method_id).first()
        if method_id
        else None
    )
    if method is None:
        raise NotFound("This payment method is not set up for the store", code="paymentmethod-not-found")
    return method


def store_payment_method_data(method: StorePaymentMethod, *, include_config: bool) -> dict:
    """Greenfield ``GenericPaymentMethodData``; Lightning secrets are never part of it."""
    data = {"enabled": method.enabled, "paymentMethodId": method.payment_method_id}
    if include_config:
        if method.payment_method_id == PaymentMethodId.BTC_CHAIN:
            data["config"] = {
                "derivationScheme": method.derivation_scheme,
                "label": method.label,
                "accountKeyPath": method.account_key_path,
            }
        elif method.payment_method_id == PaymentMethodId.BTC_LNURL:
            data["config"] = {key: bool(method.lnurl_options.get(key)) for key in ("useBech32Scheme", "lud12Enabled", "lud21Enabled")}
        elif method.internal_node:
            data["config"] = {"connectionString": "Internal Node"}
        else:
            from invoices.services.store_payment_methods import (
                connection_string_open,
                connection_string_redacted,
            )

            data["config"] = {"connectionString": connection_string_redacted(connection_string_open(method=method))}
    return data


@dataclass(frozen=True)
class InvoiceMerchant:
    store_id: str
    store_name: str


def invoice_merchant_for_payment_hash(*, payment_hash: str) -> InvoiceMerchant | None:
    """The store whose invoice's BTC-LN BOLT11 has this payment hash, or None: how a Flash Card
    payment of one of our node's invoices names the FlashPay merchant it paid, on every callback
    (one cached statement; the payment hash is unique among prompts)."""
    from invoices.sql import merchant_by_payment_hash

    row = merchant_by_payment_hash(payment_hash)
    return InvoiceMerchant(store_id=row[0], store_name=row[1]) if row is not None else None


@dataclass(frozen=True)
class InvoicePaymentState:
    """Where one payment of an invoice stands now (Greenfield payment status: Processing,
    Settled or Invalid)."""

    invoice_id: str
    payment_id: str
    status: str
    amount_msat: int


def invoice_payment_state(*, payment_id: str) -> InvoicePaymentState | None:
    """The current state of the payment ``payment_id`` (txid-vout, or a payment hash), or None.

    Other apps' handlers of the payment events (InvoiceReceivedPayment, InvoicePaymentSettled,
    InvoicePaymentUndone) read this rather than the event's payload: deliveries may come late
    or out of order, and only the payment's current status is the truth."""
    row = (
        InvoicePayment.objects.filter(payment_id=payment_id)
        .values_list("invoice_id", "status", "amount_msat")
        .first()
    )
    if row is None:
        return None
    return InvoicePaymentState(invoice_id=row[0], payment_id=payment_id, status=row[1], amount_msat=row[2])


def invoice_id_for_payment(*, payment_id: str) -> str | None:
    """The invoice a payment was recorded for (on-chain ``txid-vout``, Lightning payment hash)."""
    return InvoicePayment.objects.filter(payment_id=payment_id).values_list("invoice_id", flat=True).first()


def invoice_paid_msat_subquery(invoice_ref: str = "pk") -> Coalesce:
    """What an invoice has been paid (msat, payments not invalidated), as an annotation; 0 if none.

    ``invoice_ref`` names the invoice id in the outer query (``"pk"`` on invoices).
    """
    accounted = (
        InvoicePayment.objects.filter(invoice=OuterRef(invoice_ref))
        .exclude(status=InvoicePaymentStatus.INVALID)
        .values("invoice")
        .annotate(total=Sum("amount_msat"))
        .values("total")
    )
    return Coalesce(Subquery(accounted), 0)


def invoices_lightning_remainder_due(*, now: datetime, limit: int = 200) -> list[str]:
    """Ids of New invoices, not yet expired, whose current BOLT11 asks for other than what is due
    (the remainder sweep's work list). Only invoices with a payment row can be in that state."""
    asked = InvoicePaymentPrompt.objects.filter(
        invoice=OuterRef("pk"), payment_method_id=PaymentMethodId.BTC_LN, superseded_at__isnull=True
    ).values("amount_msat")[:1]
    query = (
        Invoice.objects.filter(status=InvoiceStatus.NEW, amount_msat__isnull=False, expires_at__gt=now)
        .filter(Exists(InvoicePayment.objects.filter(invoice=OuterRef("pk"))))
        .filter(Exists(asked))
        .annotate(paid=invoice_paid_msat_subquery(), asked=Coalesce(Subquery(asked), F("amount_msat")))
        .filter(amount_msat__gt=F("paid"))
        .exclude(asked=F("amount_msat") - F("paid"))
        .order_by("expires_at")
    )
    return list(query.values_list("pk", flat=True)[:limit])


def invoice_prompts_node_cancel_due(*, now: datetime, limit: int = 200) -> list[InvoicePaymentPrompt]:
    """Replaced BOLT11s not yet canceled on their node while they could still be paid (their
    expiry is at most the invoice's)."""
    return list(
        InvoicePaymentPrompt.objects.filter(
            payment_method_id=PaymentMethodId.BTC_LN,
            superseded_at__isnull=False,
            node_canceled_at__isnull=True,
            invoice__expires_at__gt=now,
        )
        .select_related("invoice")
        .order_by("pk")[:limit]
    )
