"""The on-chain statements (invoices/onchain/sql.py) change the rows the ORM then reads, and only those."""
from datetime import UTC, datetime

import pytest

from invoices.models import OnchainDescriptor, WatchedAddress
from invoices.onchain.sql import descriptor_index_reserve, watched_address_upsert

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _descriptor(text: str, **kwargs) -> OnchainDescriptor:
    return OnchainDescriptor.objects.create(descriptor=text, network="regtest", script_type="p2wpkh", **kwargs)


def test_reserve_hands_out_the_next_index_of_that_descriptor_only():
    wallet = _descriptor("wpkh(a)", next_index=7, imported_until=1006)
    other = _descriptor("wpkh(b)", next_index=3)

    assert descriptor_index_reserve(descriptor_pk=wallet.pk) == (7, 1006)
    assert descriptor_index_reserve(descriptor_pk=wallet.pk) == (8, 1006)

    assert OnchainDescriptor.objects.values_list("next_index", "imported_until").get(pk=wallet.pk) == (9, 1006)
    assert OnchainDescriptor.objects.values_list("next_index", "imported_until").get(pk=other.pk) == (3, -1)
    assert descriptor_index_reserve(descriptor_pk=other.pk + wallet.pk + 1000) is None


def test_upsert_inserts_a_new_derived_address():
    wallet = _descriptor("wpkh(a)")

    row_id, created_at = watched_address_upsert(address="bcrt1qnew", descriptor_pk=wallet.pk, index=4, created_at=WHEN)

    stored = WatchedAddress.objects.get(address="bcrt1qnew")
    assert (stored.pk, stored.descriptor_id, stored.derivation_index, stored.created_at) == (row_id, wallet.pk, 4, WHEN)
    assert created_at == WHEN


def test_upsert_adopts_a_lone_watched_address_and_keeps_its_row():
    wallet = _descriptor("wpkh(a)")
    lone = WatchedAddress.objects.create(address="bcrt1qlone", created_at=WHEN)

    row = watched_address_upsert(address="bcrt1qlone", descriptor_pk=wallet.pk, index=9, created_at=datetime.now(UTC))

    assert row == (lone.pk, WHEN)
    assert WatchedAddress.objects.values_list("descriptor_id", "derivation_index").get(pk=lone.pk) == (wallet.pk, 9)
    assert WatchedAddress.objects.count() == 1


def test_upsert_leaves_another_wallets_address_alone():
    wallet, other = _descriptor("wpkh(a)"), _descriptor("wpkh(b)")
    theirs = WatchedAddress.objects.create(address="bcrt1qtheirs", descriptor=other, derivation_index=0, created_at=WHEN)

    assert watched_address_upsert(address="bcrt1qtheirs", descriptor_pk=wallet.pk, index=5, created_at=WHEN) is None

    assert WatchedAddress.objects.values_list("descriptor_id", "derivation_index").get(pk=theirs.pk) == (other.pk, 0)
