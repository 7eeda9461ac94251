"""Updating many rows, each with its own values, in one statement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
    names = ", ".join(quoted)
    table = connection.ops.quote_name(meta.db_table)
    sets = ", ".join(f"{name} = v.{name}" for name in quoted[1:])
    key = quoted[0]
    sql = (
        f"UPDATE {table} SET {sets} FROM (VALUES {', '.join([row] * len(objs))}) "  # noqa: S608
        f"AS v({names}) WHERE {table}.{key} = v.{key}"
    )
    params: list[Any] = []
    for obj in objs:
        for field in columns:
            params.append(field.get_db_prep_save(getattr(obj, field.attname), connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)
