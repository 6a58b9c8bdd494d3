"""The ledger's hot-path SQL runner: server-side binding so PostgreSQL keeps prepared plans."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections


def execute_hot(sql: str, params: Sequence[Any], *, fetch: bool = True) -> list[tuple]:
    """Run one of the ledger's hot statements on Django's PostgreSQL connection; its rows if fetch.

    Django's own cursors bind parameters on the client, so PostgreSQL parses and plans each
    posting's statements afresh, about a third of the database's work per posting. This cursor
    binds on the server and asks psycopg to prepare the statement once per connection, which
    psycopg does only when the connection allows prepared statements
    (``DATABASES["default"]["OPTIONS"]["prepare_threshold"]`` not None; DB_PREPARED_STATEMENTS
    in settings), so a deployment behind a pooler that cannot carry them switches it off there.
    It runs in the current transaction and raises Django's exceptions, like
    ``connection.cursor()``; it does not show up in ``connection.queries``.
    """
    # One look-up of the connection: each `django.db.connection.x` goes through a thread-local.
    connection = connections[DEFAULT_DB_ALIAS]
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall() if fetch else []
