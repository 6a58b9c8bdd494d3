"""Two owners removing each other at the same moment: the store keeps one owner."""
from functools import partial

import pytest
from rest_framework.test import APIClient

from flashpay.accounts.models import StoreMember
from tests.concurrency import run_together
from tests.factories import StoreFactory, UserFactory, add_member, create_api_key, token_header


@pytest.mark.django_db(transaction=True)
def test_concurrent_owner_removals_leave_one_owner():
    alice, bob = UserFactory(), UserFactory()
    store = StoreFactory(owner=alice)
    add_member(store=store, user=bob, role="Owner")
    calls = [
        (create_api_key(user=alice)[1], bob.pk),
        (create_api_key(user=bob)[1], alice.pk),
    ]

    def remove(secret, victim):
        return APIClient().delete(f"/api/v1/stores/{store.id}/users/{victim}", **token_header(secret)).status_code

    statuses = run_together(*[partial(remove, *call) for call in calls]).values()

    # the second removal either finds the last owner (409) or its caller already gone (403)
    assert sorted(statuses)[0] == 200 and sorted(statuses)[1] in (403, 409)
    assert StoreMember.objects.filter(store=store, role="Owner").count() == 1
