"""Hand-written reads of every authenticated API request: the key, its store and the user's role there."""
from __future__ import annotations

from django.db import connection

from flashpay.accounts.models import APIKey, Store, StoreMember
from flashpay.sql import ModelSelect, Names

# Cached SQL instead of a compiled queryset (flashpay.sql): every API request runs these.
API_KEY_BY_HASH = ModelSelect(APIKey, related=["user"], where="{t.key_hash} = %s")
STORE_BY_ID = ModelSelect(Store, where="{t.pk} = %s")

_M = Names(StoreMember)
_MEMBER_ROLE = f"SELECT {_M.role} FROM {_M} WHERE {_M.store} = %s AND {_M.user} = %s"  # noqa: S608


def store_member_role(*, store_id: str, user_id: int) -> str | None:
    """The role column of the unique (store, user) membership, or None if there is none."""
    with connection.cursor() as cursor:
        cursor.execute(_MEMBER_ROLE, [store_id, user_id])
        row = cursor.fetchone()
    return row[0] if row else None
