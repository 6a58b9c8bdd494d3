"""The statements of invoice creation (invoices/sql.py) read and write what the ORM does."""
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from invoices import sql
from invoices.models import (
    Invoice,
    InvoiceEvent,
    InvoicePaymentPrompt,
    OnchainDescriptor,
    PaymentMethodId,
    StorePaymentMethod,
)
from tests.factories import StoreFactory

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _values(instance, *, leave_out=("id",)) -> dict:
    fields = type(instance)._meta.concrete_fields
    return {f.attname: getattr(instance, f.attname) for f in fields if f.attname not in leave_out}


def _stored(model, pk, **kwargs) -> dict:
    return _values(model.objects.get(pk=pk), **kwargs)


def test_store_methods_by_enabled_reads_the_orm_rows_with_their_descriptor():
    store, other = StoreFactory(), StoreFactory()
    wallet = OnchainDescriptor.objects.create(descriptor="wpkh(a)", network="regtest", script_type="p2wpkh")
    StorePaymentMethod.objects.create(store=store, payment_method_id="BTC-CHAIN", onchain_descriptor=wallet)
    StorePaymentMethod.objects.create(store=store, payment_method_id="BTC-LN", internal_node=True)
    StorePaymentMethod.objects.create(store=store, payment_method_id="BTC-LNURL", enabled=False, lnurl_options={"x": 1})
    StorePaymentMethod.objects.create(store=other, payment_method_id="BTC-LN", internal_node=True)

    for enabled in (True, False):
        ours = sorted(sql.STORE_METHODS_BY_ENABLED.all([store.pk, enabled]), key=lambda m: m.pk)
        orm = list(
            StorePaymentMethod.objects.filter(store=store, enabled=enabled).select_related("onchain_descriptor").order_by("pk")
        )
        assert [_values(m, leave_out=()) for m in ours] == [_values(m, leave_out=()) for m in orm]
        assert [m.onchain_descriptor and _values(m.onchain_descriptor) for m in ours] == [
            m.onchain_descriptor and _values(m.onchain_descriptor) for m in orm
        ]
    assert [m.payment_method_id for m in sorted(sql.STORE_METHODS_BY_ENABLED.all([store.pk, True]), key=lambda m: m.pk)] == [
        "BTC-CHAIN", "BTC-LN",
    ]


def _invoice(invoice_id: str, store) -> Invoice:
    return Invoice(
        id=invoice_id, store=store, amount=Decimal("10.50"), currency="JMD", rate=Decimal("15000000.25"),
        amount_msat=70_000_000, metadata={"orderId": "A-1"}, order_id="A-1", checkout={"speedPolicy": "HighSpeed"},
        receipt={"enabled": True}, speed_policy="HighSpeed", payment_tolerance=Decimal("1.50"),
        additional_search_terms=["x"], search_text="a-1 x", created_at=WHEN, expires_at=WHEN + timedelta(minutes=15),
        monitoring_expires_at=WHEN + timedelta(days=1), updated_at=WHEN,
    )


def test_the_invoice_insert_writes_the_row_save_writes():
    store = StoreFactory()

    ours = _invoice("sql-invoice", store)
    sql.INSERT_INVOICE.execute([ours])
    theirs = _invoice("orm-invoice", store)
    theirs.save(force_insert=True)

    assert _stored(Invoice, "sql-invoice") == _stored(Invoice, "orm-invoice") == _values(theirs)
    assert ours._state.adding is False


def test_the_prompt_and_event_inserts_write_the_rows_save_writes_and_set_their_ids():
    store = StoreFactory()
    ours, theirs = _invoice("sql-invoice", store), _invoice("orm-invoice", store)
    Invoice.objects.bulk_create([ours, theirs])

    def prompts(invoice, tag):
        return [
            InvoicePaymentPrompt(
                invoice=invoice, payment_method_id=PaymentMethodId.BTC_CHAIN, destination=f"bcrt1q{tag}",
                address=f"bcrt1q{tag}", key_path="0/3", created_at=WHEN,
            ),
            InvoicePaymentPrompt(
                invoice=invoice, payment_method_id=PaymentMethodId.BTC_LN, destination=f"lnbcrt{tag}",
                payment_hash=tag * 64, internal_node=True, created_at=WHEN,
            ),
        ]

    def event(invoice):
        return InvoiceEvent(
            invoice=invoice, to_status="New", to_additional_status="None", actor="api", reason="created", created_at=WHEN,
        )

    our_prompts, our_event = prompts(ours, "a"), event(ours)
    sql.INSERT_PROMPTS.execute(our_prompts)
    sql.INSERT_INVOICE_EVENTS.execute([our_event])
    their_prompts, their_event = prompts(theirs, "b"), event(theirs)
    for row in [*their_prompts, their_event]:
        row.save(force_insert=True)

    # what must differ between the twins (unique keys, the invoice) is compared apart
    unique = ("id", "invoice_id", "destination", "address", "payment_hash")

    def comparable(model, pk):
        return _stored(model, pk, leave_out=unique)

    assert [
        (p.invoice_id, p.destination, p.address, p.payment_hash)
        for p in InvoicePaymentPrompt.objects.filter(pk__in=[p.pk for p in our_prompts]).order_by("pk")
    ] == [("sql-invoice", "bcrt1qa", "bcrt1qa", None), ("sql-invoice", "lnbcrta", None, "a" * 64)]
    assert [comparable(InvoicePaymentPrompt, p.pk) for p in our_prompts] == [
        comparable(InvoicePaymentPrompt, p.pk) for p in their_prompts
    ]
    assert comparable(InvoiceEvent, our_event.pk) == comparable(InvoiceEvent, their_event.pk)
    assert list(InvoicePaymentPrompt.objects.filter(invoice=ours).order_by("pk").values_list("pk", flat=True)) == [
        p.pk for p in our_prompts
    ]


def test_merchant_by_payment_hash_answers_what_the_orm_does():
    store = StoreFactory(name="Kingston Coffee")
    other = StoreFactory(name="Negril Grill")
    invoice = Invoice.objects.create(store=store, currency="BTC", amount=Decimal("0.001"), amount_msat=100_000_000, expires_at=WHEN, monitoring_expires_at=WHEN)
    InvoicePaymentPrompt.objects.create(
        invoice=invoice, payment_method_id=PaymentMethodId.BTC_LN, destination="lnbcrt1x", payment_hash="ab" * 32,
        amount_msat=100_000_000, internal_node=True,
    )
    InvoicePaymentPrompt.objects.create(
        invoice=Invoice.objects.create(store=other, currency="BTC", amount=Decimal("0.002"), amount_msat=200_000_000, expires_at=WHEN, monitoring_expires_at=WHEN),
        payment_method_id=PaymentMethodId.BTC_CHAIN, destination="bcrt1qaddress", address="bcrt1qaddress", amount_msat=200_000_000,
    )

    for payment_hash in ("ab" * 32, "cd" * 32):
        orm = (
            InvoicePaymentPrompt.objects.filter(payment_hash=payment_hash, payment_method_id=PaymentMethodId.BTC_LN)
            .values_list("invoice__store_id", "invoice__store__name")
            .first()
        )
        assert sql.merchant_by_payment_hash(payment_hash) == orm
    assert sql.merchant_by_payment_hash("ab" * 32) == (store.pk, "Kingston Coffee")
