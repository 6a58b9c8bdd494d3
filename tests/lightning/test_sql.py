"""The lightning app's statement (lightning/sql.py) writes the row the ORM writes."""
from datetime import UTC, datetime

import pytest

from lightning.models import LightningInvoice
from lightning.sql import INSERT_INVOICE

pytestmark = pytest.mark.django_db


def _row(payment_hash: str) -> LightningInvoice:
    return LightningInvoice(
        node_pubkey="02" + "ab" * 32, payment_hash=payment_hash, bolt11=f"lnbcrt1{payment_hash[:8]}", amount_msat=21_000,
        memo="coffee", description_hash="", expires_at=datetime(2026, 3, 2, 12, 15, tzinfo=UTC),
    )


def test_the_insert_writes_what_save_writes_and_sets_the_id_and_timestamps():
    ours, theirs = _row("a" * 64), _row("b" * 64)

    INSERT_INVOICE.execute([ours])
    theirs.save(force_insert=True)

    def stored(pk):
        row = LightningInvoice.objects.get(pk=pk)
        return {f.attname: getattr(row, f.attname) for f in LightningInvoice._meta.concrete_fields
                if f.attname not in {"id", "payment_hash", "bolt11", "created_at", "updated_at"}}

    assert ours.pk is not None and ours.created_at is not None and ours.updated_at is not None
    assert stored(ours.pk) == stored(theirs.pk)
    assert LightningInvoice.objects.get(pk=ours.pk).created_at == ours.created_at
