"""The hand-written reads of every API request (flashpay/accounts/sql.py) give what the ORM gives."""
import pytest

from flashpay.accounts.models import APIKey, Store, StoreMember
from flashpay.accounts.sql import API_KEY_BY_HASH, STORE_BY_ID, store_member_role
from tests.factories import StoreFactory, UserFactory, add_member, create_api_key

pytestmark = pytest.mark.django_db


def _values(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_api_key_by_hash_is_the_orm_row_with_its_user():
    user = UserFactory()
    key, _secret = create_api_key(user=user, permissions=["btcpay.store.canviewinvoices"])
    create_api_key(user=UserFactory(), permissions=[])  # another key, not found

    found = API_KEY_BY_HASH.first([key.key_hash])
    orm = APIKey.objects.select_related("user").get(key_hash=key.key_hash)

    assert _values(found) == _values(orm) and _values(found.user) == _values(orm.user)
    assert API_KEY_BY_HASH.all(["0" * 64]) == []


def test_store_by_id_is_the_orm_row():
    store = StoreFactory(additional_tracked_rates=["BTC_JMD"])
    StoreFactory()

    assert _values(STORE_BY_ID.first([store.pk])) == _values(Store.objects.get(pk=store.pk))
    assert STORE_BY_ID.first(["no-such-store"]) is None


def test_member_role_is_the_role_the_orm_reads_and_none_for_a_stranger():
    store, other_store = StoreFactory(), StoreFactory()
    user, stranger = UserFactory(), UserFactory()
    add_member(store=store, user=user, role="Guest")
    add_member(store=other_store, user=user, role="Owner")

    orm = StoreMember.objects.filter(store=store, user=user).values_list("role", flat=True).get()
    assert store_member_role(store_id=store.pk, user_id=user.pk) == orm == "Guest"
    assert store_member_role(store_id=store.pk, user_id=stranger.pk) is None
    assert not StoreMember.objects.filter(store=store, user=stranger).exists()
