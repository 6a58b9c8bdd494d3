"""Hand-written statements of the on-chain side: address allocation in one round trip each.

Portable SQL (PostgreSQL, and SQLite >= 3.35 for `make run`: UPDATE/INSERT ... RETURNING, ON
CONFLICT); names from the models. ``tests/invoices/onchain/test_sql.py`` holds them against the ORM.
"""
from __future__ import annotations

from datetime import datetime

from flashpay.sql import Names, hot_cursor
from invoices.models import OnchainDescriptor, WatchedAddress

_D, _W = Names(OnchainDescriptor), Names(WatchedAddress)

_RESERVE_INDEX = (
    f"UPDATE {_D} SET {_D.next_index} = {_D.next_index} + 1 WHERE {_D.pk} = %s "  # noqa: S608
    f"RETURNING {_D.next_index} - 1, {_D.imported_until}"
)

# ON CONFLICT on the unique address takes over a lone row (no descriptor) and leaves an address
# of another wallet alone, which then returns nothing.
_INSERT_DERIVED = (
    f"INSERT INTO {_W} ({_W.address}, {_W.descriptor}, {_W.derivation_index}, {_W.created_at}) "  # noqa: S608
    f"VALUES (%s, %s, %s, %s) ON CONFLICT ({_W.address}) DO UPDATE SET {_W.descriptor} = EXCLUDED.{_W.descriptor}, "
    f"{_W.derivation_index} = EXCLUDED.{_W.derivation_index} WHERE {_W}.{_W.descriptor} IS NULL "
    f"RETURNING {_W.pk}, {_W.created_at}"
)


def descriptor_index_reserve(*, descriptor_pk: int) -> tuple[int, int] | None:
    """Add one to the descriptor's next_index; (the index before, imported_until), or None if
    there is no such descriptor. The row is locked only for the length of the UPDATE."""
    with hot_cursor() as cursor:
        cursor.execute(_RESERVE_INDEX, [descriptor_pk])
        row = cursor.fetchone()
    return (row[0], row[1]) if row is not None else None


def watched_address_upsert(
    *, address: str, descriptor_pk: int, index: int, created_at: datetime
) -> tuple[int, datetime] | None:
    """Insert the derived address, or give a lone watched row of the same address (no
    descriptor) this descriptor and index; (id, created_at) of the row, or None when the address
    belongs to another wallet (then nothing changed)."""
    with hot_cursor() as cursor:
        cursor.execute(_INSERT_DERIVED, [address, descriptor_pk, index, created_at])
        row = cursor.fetchone()
    return (row[0], row[1]) if row is not None else None
