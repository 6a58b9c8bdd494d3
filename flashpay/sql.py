"""Cached SQL for the few statements on the busiest paths (API-key auth, invoice creation).

The ORM compiles a queryset again on every call. For a model of forty columns that costs more
CPU in the web process than PostgreSQL spends answering, and invoice creation runs a handful of
them. ``ModelSelect`` and ``ModelInsert`` build their SQL text once per model and database
vendor from the model's metadata, then only bind parameters. Rows become model instances
through the converters the ORM itself would apply (JSON decoded, SQLite's text decimals and
datetimes parsed), so callers get the instances a queryset would have given them.

On PostgreSQL the statements go through a server-side-binding cursor that psycopg prepares on
a connection's first run of each (unless DB_PREPARED_STATEMENTS turns prepared statements off),
so PostgreSQL stops parsing and planning it per request. The ledger's hand-written postings use
the same cursor (``execute_hot``). The statements are plain column
comparisons and VALUES lists, whose parameter types PostgreSQL always infers.

Deliberately small: one table, plus optional joins to the targets of its foreign keys.

The house rule: hand-written SQL lives only in ``sql.py`` modules (``flashpay/ledger/sql.py``,
``invoices/sql.py``...), names its tables and columns through ``Names`` (from ``Model._meta``,
never typed out), and each statement has a test that holds it against the ORM. This module is
the shared tool, and the ``sql.py`` of the kernel's loose modules (health, advisory locks).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper


@dataclass(frozen=True)
class _Part:
    """The columns of one model in a SELECT: where they sit in the row and how to read them."""

    model: type[models.Model]
    start: int
    attnames: tuple[str, ...]
    converters: tuple[tuple[int, tuple, object], ...]  # (column index, converters, column) where any
    via: models.ForeignKey | None  # the foreign key of the main model this part is joined through


@lru_cache(maxsize=1)
def _preparing_cursor_class():
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparingCursor(ServerBindingCursor):
        """Prepares each statement on its first run on a connection, not its prepare_threshold-th.

        psycopg still prepares nothing when the connection's prepare_threshold is None
        (DB_PREPARED_STATEMENTS=false, for poolers that cannot carry prepared statements).
        """

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)

    return PreparingCursor


def hot_cursor(connection=None):
    """A Django cursor (errors translated, queries logged under DEBUG) that binds on the server
    and prepares what it runs (on PostgreSQL; elsewhere Django's own cursor)."""
    connection = connection or connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        # SQLite: `make run` creates invoices and authenticates API keys through these
        # statements too, and only psycopg has server-side binding and prepared statements.
        return connection.cursor()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = _preparing_cursor_class()(connection.connection)
    return _DebugCursor(cursor, connection) if connection.queries_logged else connection.make_cursor(cursor)


def execute_hot(sql: str, params: Sequence, *, fetch: bool = True) -> list[tuple]:
    """Run one hand-written hot statement (the ledger's postings) through hot_cursor; its rows if fetch."""
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if fetch else []


class _DebugCursor(CursorDebugWrapper):
    """Logs the statement as written: Django's reading of the last query assumes client-side binding."""

    def execute(self, sql, params=None):
        with self.debug_sql(sql, params):
            return CursorWrapper.execute(self, sql, params)


def _converters(field: models.Field, alias: str, connection) -> tuple[tuple, object]:
    """The ORM's converters for a column, and the column expression they are called with."""
    col = field.get_col(alias)
    return tuple(connection.ops.get_db_converters(col)) + tuple(col.get_db_converters(connection)), col


class ModelSelect:
    """``SELECT <every column> FROM <table> [JOIN <fk targets>] WHERE <where>``, compiled once.

    ``where`` is SQL with ``%s`` placeholders whose names come from the models: ``{t.<field>}``
    is a column of the main table, ``{<related_name>.<field>}`` one of the joined table of that
    foreign key (e.g. ``{user.is_active}``), ``{t}`` the main table's alias. Nullable foreign
    keys are LEFT JOINed and give ``None`` when unset.
    """

    def __init__(self, model: type[models.Model], *, where: str, related: Sequence[str] = ()):
        self.model, self.where, self.related = model, where, tuple(related)
        self._compiled: dict[str, tuple[str, list[_Part]]] = {}

    def _compile(self, connection) -> tuple[str, list[_Part]]:
        compiled = self._compiled.get(connection.vendor)
        if compiled is not None:
            return compiled
        quote = connection.ops.quote_name
        aliases = {"t": Names(self.model, alias="t0")}
        columns: list[str] = []
        parts: list[_Part] = []
        joins: list[str] = []

        def add(model, alias, via):
            fields = model._meta.concrete_fields
            parts.append(
                _Part(
                    model=model,
                    start=len(columns),
                    attnames=tuple(f.attname for f in fields),
                    converters=tuple(
                        (i, convs, col) for i, f in enumerate(fields) for convs, col in [_converters(f, alias, connection)] if convs
                    ),
                    via=via,
                )
            )
            columns.extend(f"{alias}.{quote(f.column)}" for f in fields)

        add(self.model, "t0", None)
        for number, name in enumerate(self.related, start=1):
            fk = self.model._meta.get_field(name)
            if not isinstance(fk, models.ForeignKey):
                raise TypeError(f"{self.model.__name__}.{name} is not a foreign key")
            target = fk.related_model
            alias = f"t{number}"
            aliases[name] = Names(target, alias=alias)
            kind = "LEFT JOIN" if fk.null else "JOIN"
            joins.append(
                f"{kind} {quote(target._meta.db_table)} {alias} "
                f"ON {alias}.{quote(fk.target_field.column)} = t0.{quote(fk.column)}"
            )
            add(target, alias, fk)
        # Only names from the model's metadata and the caller's constant WHERE text are joined in.
        sql = " ".join(
            [f"SELECT {', '.join(columns)} FROM {quote(self.model._meta.db_table)} t0", *joins,  # noqa: S608
             "WHERE " + self.where.format(**aliases)]
        )
        compiled = self._compiled[connection.vendor] = (sql, parts)
        return compiled

    def all(self, params: Sequence) -> list[models.Model]:
        # One look-up of the connection: each `django.db.connection.x` goes through a thread-local.
        connection = connections[DEFAULT_DB_ALIAS]
        sql, parts = self._compile(connection)
        with hot_cursor(connection) as cursor:
            cursor.execute(sql, list(params))
            rows = cursor.fetchall()
        return [self._instance(row, parts, connection) for row in rows]

    def first(self, params: Sequence) -> models.Model | None:
        """The one row of a unique lookup, or None."""
        found = self.all(params)
        return found[0] if found else None

    @staticmethod
    def _instance(row: Sequence, parts: list[_Part], connection) -> models.Model:
        main = None
        for part in parts:
            values = list(row[part.start : part.start + len(part.attnames)])
            for index, converters, col in part.converters:
                for convert in converters:
                    values[index] = convert(values[index], col, connection)
            if part.via is None:
                main = part.model.from_db(connection.alias, part.attnames, values)
                continue
            pk_index = part.attnames.index(part.model._meta.pk.attname)
            related = None if values[pk_index] is None else part.model.from_db(connection.alias, part.attnames, values)
            part.via.set_cached_value(main, related)
        return main


class ModelInsert:
    """A multi-row ``INSERT`` of new instances, compiled once per row count; sets auto primary keys.

    Fields are prepared as ``Model.save`` would (``pre_save`` for auto_now/defaults, then
    ``get_db_prep_save``). Validation stays with the caller (``full_clean`` as the call site needs).
    """

    def __init__(self, model: type[models.Model]):
        self.model = model
        pk = model._meta.pk
        self.auto_pk = pk if isinstance(pk, models.AutoField) else None
        self.fields = [f for f in model._meta.concrete_fields if f is not self.auto_pk]
        self._sql: dict[tuple[str, int], str] = {}

    def _statement(self, rows: int, connection) -> str:
        key = (connection.vendor, rows)
        sql = self._sql.get(key)
        if sql is None:
            quote = connection.ops.quote_name
            one = "(" + ", ".join(["%s"] * len(self.fields)) + ")"
            sql = (  # names from the model's metadata and placeholders only
                f"INSERT INTO {quote(self.model._meta.db_table)} ({', '.join(quote(f.column) for f in self.fields)}) "  # noqa: S608
                f"VALUES {', '.join([one] * rows)}"
            )
            if self.auto_pk is not None:
                sql += f" RETURNING {quote(self.auto_pk.column)}"
            sql = self._sql[key] = sql
        return sql

    def execute(self, instances: Iterable[models.Model]) -> None:
        instances = list(instances)
        if not instances:
            return
        connection = connections[DEFAULT_DB_ALIAS]
        params = []
        for instance in instances:
            for field in self.fields:
                params.append(field.get_db_prep_save(field.pre_save(instance, True), connection))
        with hot_cursor(connection) as cursor:
            cursor.execute(self._statement(len(instances), connection), params)
            if self.auto_pk is not None:
                ids = [row[0] for row in cursor.fetchall()]
                for instance, pk in zip(instances, ids, strict=True):
                    setattr(instance, self.auto_pk.attname, pk)
        for instance in instances:
            instance._state.adding = False
            instance._state.db = connection.alias


def quote(name: str) -> str:
    """An SQL identifier in standard double quotes (PostgreSQL and SQLite both read them)."""
    return '"' + name.replace('"', '""') + '"'


class Names:
    """A model's table and column names for hand-written SQL, taken from ``Model._meta``.

    ``a = Names(Account)``: ``f"UPDATE {a} SET {a.posted_msat} = ..."``. ``str(a)`` is the quoted
    table, ``a.<field>`` the quoted column of that field (``a.account`` gives ``"account_id"``,
    ``a.pk`` the primary key's). An unknown field fails at import, not in production. With
    ``alias=``, ``str()`` is the alias and columns come qualified by it (``t0."id"``).
    """

    def __init__(self, model: type[models.Model], *, alias: str | None = None):
        self._model, self._alias = model, alias
        self._table = quote(model._meta.db_table)

    def __str__(self) -> str:
        return self._alias or self._table

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        meta = self._model._meta
        field = meta.pk if name == "pk" else meta.get_field(name)
        return f"{self._alias}.{quote(field.column)}" if self._alias else quote(field.column)


# ---------------------------------------------------------------------------- kernel statements
# The few statements of the kernel's loose modules (flashpay/apis.py, schedules.py, singleton.py).


def database_ping() -> None:
    """One round trip to the database (the health endpoint); raises if it cannot answer."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def advisory_xact_lock(key: int) -> None:
    """Wait for the transaction-level advisory lock ``key``; it is released at COMMIT/ROLLBACK.

    Must run inside ``transaction.atomic()``. On SQLite (``make run``, which syncs its schedules
    through this) there is nothing to take: settings open every transaction with BEGIN
    IMMEDIATE, so the transaction already holds the database's only write lock.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


# Session advisory locks on a dedicated psycopg connection (flashpay.singleton): held until
# unlocked or until that connection ends.


def advisory_try_lock(conn, key: int) -> bool:
    """Take the session advisory lock ``key`` if it is free; whether it is now held."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()
    return bool(row and row[0])


def advisory_lock_held(conn, key: int) -> bool:
    """Whether this connection's session still holds the advisory lock ``key`` (pg_locks)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND pid = pg_backend_pid() AND objid = (%s::bigint & x'ffffffff'::bigint)::oid",
        [key],
    ).fetchone()
    return bool(row and row[0])


def advisory_unlock(conn, key: int) -> None:
    """Release the session advisory lock ``key``."""
    conn.execute("SELECT pg_advisory_unlock(%s)", [key])
