"""The outbox's hand-written SQL: event and delivery INSERTs and the broker's queue statements.

Table and column names come from the models' ``_meta`` through ``flashpay.sql.Names``
(``EventDelivery.state`` lives in the column ``status``, for instance), so a renamed field
cannot leave a statement behind. Each
statement has a test that runs it and compares what it wrote or read with the ORM
(tests/flashpay/events/test_sql.py). Statements run through ``flashpay.sql.hot_cursor``:
bound and prepared on the server on PostgreSQL.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from django.db import DEFAULT_DB_ALIAS, connections
from django_q.models import OrmQ

from flashpay.events.models import Event, EventDelivery
from flashpay.sql import ModelInsert, Names, hot_cursor

# The columns an emitted event and its deliveries are written with; the rest keep their defaults.
EVENT_FIELDS = ("type", "aggregate_type", "aggregate_id", "payload", "idempotency_key", "created_at")
DELIVERY_FIELDS = ("handler", "state", "attempts", "last_error", "next_attempt_at", "created_at", "updated_at")

# Tests turn this off to run the portable two-statement path against PostgreSQL too.
ONE_STATEMENT_ON_POSTGRESQL = True

_E, _D, _Q = Names(Event), Names(EventDelivery), Names(OrmQ)
_EVENT_COLUMNS = ", ".join(getattr(_E, name) for name in EVENT_FIELDS)
_DELIVERY_COLUMNS = ", ".join(getattr(_D, name) for name in DELIVERY_FIELDS)

# Names from the models' metadata and placeholders only; every value is bound.
_INSERT_EVENT = (
    f"INSERT INTO {_E} ({_EVENT_COLUMNS}) VALUES ({', '.join(['%s'] * len(EVENT_FIELDS))}) "  # noqa: S608
    f"ON CONFLICT ({_E.idempotency_key}) DO NOTHING RETURNING {_E.pk}"
)


def _placeholders(rows: int, width: int) -> str:
    return ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * rows)


@cache
def _insert_event_and_deliveries(rows: int) -> str:
    """PostgreSQL: the event and its deliveries in one data-modifying WITH (none written when it is not)."""
    return (
        f"WITH e AS ({_INSERT_EVENT}), "  # noqa: S608
        f"d AS (INSERT INTO {_D} ({_D.event}, {_DELIVERY_COLUMNS}) "
        f"SELECT e.{_E.pk}, h.* FROM e CROSS JOIN (VALUES {_placeholders(rows, len(DELIVERY_FIELDS))}) "
        f"AS h({_DELIVERY_COLUMNS})) SELECT {_E.pk} FROM e"
    )


@cache
def _insert_deliveries(rows: int) -> str:
    return (
        f"INSERT INTO {_D} ({_D.event}, {_DELIVERY_COLUMNS}) "  # noqa: S608
        f"VALUES {_placeholders(rows, 1 + len(DELIVERY_FIELDS))}"
    )


def _values(instance, names: Sequence[str], connection) -> list:
    """The column values ``Model.save`` would write (defaults, auto_now, JSON and time adaptation)."""
    meta = type(instance)._meta
    values = []
    for name in names:
        field = meta.get_field(name)
        values.append(field.get_db_prep_save(field.pre_save(instance, True), connection))
    return values


def event_insert(event: Event, deliveries: Sequence[EventDelivery]) -> int | None:
    """INSERT an event and its deliveries, or nothing when its idempotency key is taken; its id, or None.

    ON CONFLICT DO NOTHING never aborts the caller's transaction (no savepoint needed), and a
    concurrent insert of the same key makes it wait for that transaction's outcome. Events
    without a key (NULL) never conflict. On PostgreSQL the deliveries go into the same
    statement, one round trip per event; elsewhere they follow in a second INSERT.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    values = _values(event, EVENT_FIELDS, connection)
    rows = [_values(d, DELIVERY_FIELDS, connection) for d in deliveries]
    with hot_cursor(connection) as cursor:
        if rows and ONE_STATEMENT_ON_POSTGRESQL and connection.vendor == "postgresql":
            cursor.execute(
                _insert_event_and_deliveries(len(rows)),
                values + [value for row in rows for value in row],
            )
            found = cursor.fetchone()
            return found[0] if found is not None else None
        cursor.execute(_INSERT_EVENT, values)
        found = cursor.fetchone()
        if found is None:
            return None
        if rows:
            cursor.execute(
                _insert_deliveries(len(rows)),
                [value for row in rows for value in (found[0], *row)],
            )
        return found[0]


# django-q2's queue rows (its ORM broker): the insert of ``enqueue``, and "is this task still waiting".
TASK_INSERT = ModelInsert(OrmQ)


_TASK_WAITING = f"SELECT 1 FROM {_Q} WHERE {_Q.pk} = %s AND {_Q.lock} <= %s"  # noqa: S608


def task_waiting(*, row_id: int, now, connection=None) -> bool:
    """Whether queue row ``row_id`` is still untaken at ``now`` (a worker pushes its lock into the future)."""
    connection = connection or connections[DEFAULT_DB_ALIAS]
    lock = OrmQ._meta.get_field("lock").get_db_prep_value(now, connection)
    with hot_cursor(connection) as cursor:
        cursor.execute(_TASK_WAITING, [row_id, lock])
        return cursor.fetchone() is not None
