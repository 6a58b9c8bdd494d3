"""The cached-SQL reads and writes of the hot paths give what the ORM would have given."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from flashpay.accounts.models import APIKey, Store, StoreMember
from flashpay.sql import ModelInsert, ModelSelect
from invoices.models import StorePaymentMethod
from tests.factories import StoreFactory, UserFactory, create_api_key

pytestmark = pytest.mark.django_db


def _field_values(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_select_gives_the_instance_the_orm_gives():
    store = StoreFactory(
        payment_tolerance=Decimal("2.50"), additional_tracked_rates=["BTC_EUR"], receipt={"showQR": True}
    )
    fast = ModelSelect(Store, where="{t}.id = %s").first([store.pk])
    assert _field_values(fast) == _field_values(Store.objects.get(pk=store.pk))
    assert fast.payment_tolerance == Decimal("2.50") and fast.receipt == {"showQR": True}
    assert fast._state.adding is False and fast._state.db == "default"


def test_select_joins_the_foreign_key_in_the_same_query(django_assert_num_queries):
    user = UserFactory()
    key, _secret = create_api_key(user=user, permissions=["btcpay.store.canviewinvoices"])
    with django_assert_num_queries(1):
        found = ModelSelect(APIKey, related=["user"], where="{t}.key_hash = %s").first([key.key_hash])
        assert found.user.username == user.username
    assert found.permissions == ["btcpay.store.canviewinvoices"]


def test_an_unset_nullable_foreign_key_reads_as_none_and_no_row_as_nothing():
    store = StoreFactory()
    StorePaymentMethod.objects.create(store=store, payment_method_id="BTC-LN", internal_node=True)
    select = ModelSelect(StorePaymentMethod, related=["onchain_descriptor"], where="{t}.store_id = %s")
    [method] = select.all([store.pk])
    assert method.payment_method_id == "BTC-LN" and method.onchain_descriptor is None
    assert select.first(["no-such-store"]) is None


def test_insert_sets_the_generated_key_and_auto_now_fields():
    store, user = StoreFactory(), UserFactory()
    members = [StoreMember(store=store, user=user, role="Owner")]
    ModelInsert(StoreMember).execute(members)
    stored = StoreMember.objects.get(store=store, user=user)
    assert members[0].pk == stored.pk and stored.created_at is not None
    assert members[0]._state.adding is False


def test_a_violated_constraint_is_an_integrity_error_and_writes_nothing():
    store, user = StoreFactory(), UserFactory()
    StoreMember.objects.create(store=store, user=user, role="Owner")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelInsert(StoreMember).execute([StoreMember(store=store, user=user, role="Guest")])
    assert list(StoreMember.objects.filter(store=store).values_list("role", flat=True)) == ["Owner"]
