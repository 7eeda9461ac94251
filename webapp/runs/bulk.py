"""Writing many rows, or rows of several tables, in one statement (one round trip)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

from django.db import connection, models


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
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _update_sql(
    model: type[models.Model], objs: Sequence[models.Model], fields: list[str]
) -> tuple[str, list[Any]]:
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
        f"UPDATE {table} SET {sets} FROM (VALUES {', '.join([row] * len(objs))}) "  # noqa: S608
        f"AS v({', '.join(quoted)}) WHERE {table}.{quoted[0]} = v.{quoted[0]}"
    )
    params: list[Any] = []
    for obj in objs:
        for field in columns:
            params.append(field.get_db_prep_save(getattr(obj, field.attname), connection))
    return sql, params


Update: TypeAlias = tuple[type[models.Model], Sequence[models.Model], list[str]]


def update_rows_together(updates: list[Update]) -> None:
    """Several `update_rows` in one statement (data-modifying CTEs): one round
    trip instead of one per table, e.g. a step's outcome and its payload."""
    parts = [_update_sql(model, objs, fields) for model, objs, fields in updates if objs]
    if not parts:
        return
    ctes = ", ".join(f"u{i} AS ({sql} RETURNING 1)" for i, (sql, _) in enumerate(parts))
    params = [param for _, part_params in parts for param in part_params]
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {ctes} SELECT 1", params)


def insert_with_payload(obj: models.Model, payload: models.Model) -> None:
    """INSERT `obj` and `payload` (a model whose primary key is a one-to-one
    link to `obj`'s model) in one statement; sets obj.pk. Field values are as
    `Model.save` would write them (defaults were applied by the constructor)."""
    meta, payload_meta = obj._meta, payload._meta
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
    params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    params += [f.get_db_prep_save(f.pre_save(payload, True), connection) for f in payload_fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    assert row is not None
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = connection.alias
    setattr(payload, link.attname, row[0])
    payload._state.adding = False
    payload._state.db = connection.alias
