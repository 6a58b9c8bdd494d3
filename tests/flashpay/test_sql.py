"""The cached-SQL reads and writes of the hot paths give what the ORM would have given; the kernel's own statements."""
from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from django.core.exceptions import FieldDoesNotExist
from django.db import IntegrityError, connection, transaction

from flashpay.accounts.models import APIKey, Store, StoreMember
from flashpay.sql import (
    ModelInsert,
    ModelSelect,
    Names,
    advisory_lock_held,
    advisory_try_lock,
    advisory_unlock,
    advisory_xact_lock,
    database_ping,
)
from invoices.models import StorePaymentMethod
from tests.factories import StoreFactory, UserFactory, create_api_key

pytestmark = pytest.mark.django_db


def _field_values(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_select_gives_the_instance_the_orm_gives():
    store = StoreFactory(
        payment_tolerance=Decimal("2.50"), additional_tracked_rates=["BTC_EUR"], receipt={"showQR": True}
    )
    fast = ModelSelect(Store, where="{t.pk} = %s").first([store.pk])
    assert _field_values(fast) == _field_values(Store.objects.get(pk=store.pk))
    assert fast.payment_tolerance == Decimal("2.50") and fast.receipt == {"showQR": True}
    assert fast._state.adding is False and fast._state.db == "default"


def test_select_joins_the_foreign_key_in_the_same_query(django_assert_num_queries):
    user = UserFactory()
    key, _secret = create_api_key(user=user, permissions=["btcpay.store.canviewinvoices"])
    with django_assert_num_queries(1):
        found = ModelSelect(APIKey, related=["user"], where="{t.key_hash} = %s").first([key.key_hash])
        assert found.user.username == user.username
    assert found.permissions == ["btcpay.store.canviewinvoices"]


def test_an_unset_nullable_foreign_key_reads_as_none_and_no_row_as_nothing():
    store = StoreFactory()
    StorePaymentMethod.objects.create(store=store, payment_method_id="BTC-LN", internal_node=True)
    select = ModelSelect(StorePaymentMethod, related=["onchain_descriptor"], where="{t.store} = %s")
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


def test_names_come_from_the_model_meta():
    from flashpay.ledger.models import Entry

    names = Names(Entry)
    assert str(names) == f'"{Entry._meta.db_table}"'
    assert (names.account, names.amount_msat, names.pk) == ('"account_id"', '"amount_msat"', '"id"')
    assert Names(Entry, alias="t1").account == 't1."account_id"'
    with pytest.raises(FieldDoesNotExist):
        names.no_such_column  # noqa: B018


def test_ping_is_one_round_trip(django_assert_num_queries):
    with django_assert_num_queries(1):
        database_ping()


def _other_connection() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"], autocommit=True
    )


@pytest.mark.django_db(transaction=True)
def test_the_transaction_advisory_lock_is_held_until_the_transaction_ends():
    key = 0x5445535453514C31
    other = _other_connection()
    try:
        with transaction.atomic():
            advisory_xact_lock(key)
            assert other.execute("SELECT pg_try_advisory_xact_lock(%s)", [key]).fetchone() == (False,)
        assert other.execute("SELECT pg_try_advisory_xact_lock(%s)", [key]).fetchone() == (True,)
    finally:
        other.close()


def test_a_session_advisory_lock_is_one_holder_at_a_time():
    key = 0x5445535453514C32
    first, second = _other_connection(), _other_connection()
    try:
        assert advisory_try_lock(first, key) is True
        assert advisory_try_lock(second, key) is False
        assert (advisory_lock_held(first, key), advisory_lock_held(second, key)) == (True, False)
        advisory_unlock(first, key)
        assert advisory_lock_held(first, key) is False
        assert advisory_try_lock(second, key) is True
    finally:
        first.close()
        second.close()
