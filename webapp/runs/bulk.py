"""Reading and writing rows with SQL built once per model and shape.

Writing many rows, or rows of several tables, in one statement (one round
trip), and locking one row by primary key. The statement text is built once
per (model, fields, rows) and cached: building it through the ORM on every
call cost more Python time per engine hop than the statements' own round trips
(docs/benchmarks.md, B1). The statements run as server-side prepared
statements (`prepared`): Postgres parses and plans each once per connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache, partial
from typing import Any, TypeAlias, TypeVar

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

M = TypeVar("M", bound=models.Model)


class PreparedCursor:
    """A psycopg cursor on Django's connection (same transaction) whose
    statements are bound server side and prepared: Postgres parses and plans
    each statement text once per pooled connection, not on every call
    (Django's own cursors bind client side and never prepare). Statements go
    through Django's execute wrappers and query log like the ORM's, and raise
    Django's errors (django.db.DatabaseError and subclasses)."""

    def __init__(self, cursor: psycopg.Cursor[Any], db: BaseDatabaseWrapper | None = None) -> None:
        self.cursor = cursor
        self.db = db or _db()

    def execute(self, sql: str, params: Sequence[Any]) -> None:
        def run(sql: str, params: Any, many: bool, context: Any) -> None:
            self.cursor.execute(sql, params, prepare=True)

        db = self.db
        executor: Callable[..., Any] = run
        for wrapper in reversed(db.execute_wrappers):
            executor = partial(wrapper, executor)
        start = time.monotonic()
        try:
            with db.wrap_database_errors:
                executor(sql, params, False, {"connection": db, "cursor": self})
        finally:
            if db.queries_logged:
                duration = time.monotonic() - start
                db.queries_log.append({"sql": sql, "time": f"{duration:.3f}"})

    def fetchone(self) -> tuple[Any, ...] | None:
        with self.db.wrap_database_errors:
            return self.cursor.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        with self.db.wrap_database_errors:
            return self.cursor.fetchall()

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount


@contextmanager
def prepared() -> Iterator[PreparedCursor]:
    """A PreparedCursor, for the statements run on every engine hop; their
    text must be the same for the same shape (placeholders, never values).
    DB_PREPARED_STATEMENTS=0 (settings) makes them plain server-bound ones."""
    db = _db()
    db.ensure_connection()
    with psycopg.Cursor(db.connection) as cursor:
        yield PreparedCursor(cursor, db)


def _db() -> BaseDatabaseWrapper:
    """This thread's default connection: `django.db.connection` is a proxy that
    looks it up again on every attribute access (~1 us each, dozens a hop)."""
    return connections[DEFAULT_DB_ALIAS]


def update_rows(model: type[models.Model], objs: Sequence[models.Model], fields: list[str]) -> int:
    """`UPDATE <table> SET f = v.f, ... FROM (VALUES (pk, f, ...), ...) AS v WHERE
    <table>.pk = v.pk`: write `fields` of every object in `objs` (saved rows) in
    one statement. Returns the number of rows updated.

    Same effect as `QuerySet.bulk_update(objs, fields)`, which builds a CASE
    expression per field and row; resolving those costs about 10x the Python
    time of this at 20-500 rows (a map's items, docs/benchmarks.md B2)."""
    if not objs:
        return 0
    sql, params = _update_sql(model, objs, fields)
    with prepared() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _update_sql(
    model: type[models.Model], objs: Sequence[models.Model], fields: list[str]
) -> tuple[str, list[Any]]:
    sql, columns = _update_statement(model, tuple(fields), len(objs))
    db = _db()
    params: list[Any] = []
    for obj in objs:
        for field in columns:
            params.append(field.get_db_prep_save(getattr(obj, field.attname), db))
    return sql, params


@lru_cache(maxsize=512)
def _update_statement(
    model: type[models.Model], fields: tuple[str, ...], rows: int
) -> tuple[str, list[models.Field[Any, Any]]]:
    meta = model._meta
    pk = meta.pk
    assert pk is not None
    columns: list[models.Field[Any, Any]] = [pk]
    for name in fields:
        field = meta.get_field(name)
        assert isinstance(field, models.Field), f"{name} is not a concrete field"
        columns.append(field)
    quoted = [connection.ops.quote_name(str(field.column)) for field in columns]
    row = "(" + ", ".join(f"%s::{field.cast_db_type(connection)}" for field in columns) + ")"
    table = connection.ops.quote_name(meta.db_table)
    sets = ", ".join(f"{name} = v.{name}" for name in quoted[1:])
    sql = (
        f"UPDATE {table} SET {sets} FROM (VALUES {', '.join([row] * rows)}) "  # noqa: S608
        f"AS v({', '.join(quoted)}) WHERE {table}.{quoted[0]} = v.{quoted[0]}"
    )
    return sql, columns


Update: TypeAlias = tuple[type[models.Model], Sequence[models.Model], list[str]]


def update_rows_together(updates: list[Update]) -> None:
    """Several `update_rows` in one statement (data-modifying CTEs): one round
    trip instead of one per table, e.g. a step's outcome and its payload."""
    parts = [_update_sql(model, objs, fields) for model, objs, fields in updates if objs]
    if not parts:
        return
    ctes = ", ".join(f"u{i} AS ({sql} RETURNING 1)" for i, (sql, _) in enumerate(parts))
    params = [param for _, part_params in parts for param in part_params]
    with prepared() as cursor:
        cursor.execute(f"WITH {ctes} SELECT 1", params)


def insert_with_payload(obj: models.Model, payload: models.Model) -> None:
    """INSERT `obj` and `payload` (a model whose primary key is a one-to-one
    link to `obj`'s model) in one statement; sets obj.pk. Field values are as
    `Model.save` would write them (defaults were applied by the constructor)."""
    sql, fields, payload_fields, link = _insert_statement(type(obj), type(payload))
    db = _db()
    params = [f.get_db_prep_save(f.pre_save(obj, True), db) for f in fields]
    params += [f.get_db_prep_save(f.pre_save(payload, True), db) for f in payload_fields]
    with prepared() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    assert row is not None
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = db.alias
    setattr(payload, link.attname, row[0])
    payload._state.adding = False
    payload._state.db = db.alias


Fields: TypeAlias = "list[models.Field[Any, Any]]"


@lru_cache(maxsize=64)
def _insert_statement(
    model: type[models.Model], payload_model: type[models.Model]
) -> tuple[str, Fields, Fields, models.Field[Any, Any]]:
    meta, payload_meta = model._meta, payload_model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    payload_fields = [f for f in payload_meta.concrete_fields if not f.primary_key]
    link = payload_meta.pk
    assert meta.pk is not None
    assert link is not None
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in fields)
    values = ", ".join(f"%s::{f.cast_db_type(connection)}" for f in fields)
    payload_columns = ", ".join(quote(str(f.column)) for f in [link, *payload_fields])
    payload_values = ", ".join(f"%s::{f.cast_db_type(connection)}" for f in payload_fields)
    key = quote(str(meta.pk.column))
    sql = (
        f"WITH parent AS (INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({values}) "  # noqa: S608
        f"RETURNING {key}) INSERT INTO {quote(payload_meta.db_table)} ({payload_columns}) "
        f"SELECT parent.{key}, {payload_values} FROM parent RETURNING {quote(str(link.column))}"
    )
    return sql, fields, payload_fields, link


def lock(model: type[M], pk: int) -> M:
    """`model.objects.select_for_update().get(pk=pk)` with the statement built
    once per model: every concrete field loaded, converted as the ORM would
    (e.g. JSON decoded). Raises model.DoesNotExist."""
    sql, _, _ = _lock_statement(model)
    with prepared() as cursor:
        cursor.execute(sql, [pk])
        return _instance(model, pk, cursor.fetchone())


def _instance(model: type[M], pk: int, row: tuple[Any, ...] | None) -> M:
    if row is None:
        raise model.DoesNotExist(f"{model.__name__} {pk} does not exist")  # type: ignore[attr-defined]
    _, attnames, converters = _lock_statement(model)
    db = _db()
    values = list(row)
    for index, convert in converters:
        values[index] = convert(values[index], None, db)
    return model.from_db(db.alias, attnames, values)


@lru_cache(maxsize=16)
def _lock_statement(
    model: type[models.Model],
) -> tuple[str, list[str], list[tuple[int, Callable[..., Any]]]]:
    meta = model._meta
    assert meta.pk is not None
    quote = connection.ops.quote_name
    fields = list(meta.concrete_fields)
    columns = ", ".join(quote(str(f.column)) for f in fields)
    sql = (
        f"SELECT {columns} FROM {quote(meta.db_table)} "  # noqa: S608
        f"WHERE {quote(str(meta.pk.column))} = %s FOR UPDATE"
    )
    converters = [
        (index, convert)
        for index, field in enumerate(fields)
        for convert in field.get_db_converters(connection)
        + connection.ops.get_db_converters(field.get_col(meta.db_table))
    ]
    return sql, [f.attname for f in fields], converters
