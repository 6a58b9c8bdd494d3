"""Minting an invoice on our node: the row written without decoding says what the BOLT11 says."""
import time

import pytest

from lightning.bolt11_helpers import decode_bolt11
from lightning.models import LightningInvoice
from lightning.services import lightning_invoice_create

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_row_records_the_payee_hash_amount_and_expiry_of_the_minted_bolt11(lnd_backend):
    before = int(time.time())

    row = lightning_invoice_create(backend=lnd_backend, amount_msat=21_000, memo="espresso", expiry=900)

    decoded = decode_bolt11(row.bolt11, network="regtest")
    stored = LightningInvoice.objects.get(pk=row.pk)
    assert stored.node_pubkey == decoded.payee == lnd_backend.node_info().pubkey
    assert stored.payment_hash == decoded.payment_hash
    assert stored.amount_msat == decoded.amount_msat == 21_000
    assert decoded.description == "espresso"
    assert decoded.expiry == 900
    # never later than the node's own expiry, and at most the call's duration earlier
    assert before + 900 <= stored.expires_at.timestamp() <= decoded.expires_at


def test_the_node_key_is_asked_once_per_backend(lnd_backend, monkeypatch):
    lightning_invoice_create(backend=lnd_backend, amount_msat=1_000)
    calls = []
    original = type(lnd_backend).node_info
    monkeypatch.setattr(type(lnd_backend), "node_info", lambda self: calls.append(1) or original(self))

    rows = [lightning_invoice_create(backend=lnd_backend, amount_msat=1_000 + i) for i in range(3)]

    assert calls == []
    assert {r.node_pubkey for r in rows} == {decode_bolt11(rows[0].bolt11).payee}
