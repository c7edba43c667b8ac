"""Many rows in one statement: PostgreSQL `unnest` of column arrays instead of executemany.

A flush of 100,000 items writes 100,000 reports, moves as many watermarks and marks as many
reports sent. As one statement over `unnest(array, array, …)` each takes a fraction of the
time of 100,000 executed rows (and of SQLAlchemy's per-row parameter handling). SQLite (the
embedded single-process default) keeps executemany.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ARRAY, and_, bindparam, cast, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def unnest(name: str, columns: dict[str, tuple[TypeEngine[Any], list[Any]]]) -> TableValuedAlias:
    """`unnest(CAST(:a AS t[]), …) AS name(a, …)`: one row per index of the equal-length lists."""
    arrays = [cast(values, ARRAY(type_)) for type_, values in columns.values()]
    return func.unnest(*arrays).table_valued(*columns).render_derived(name=name)


def _rows_as_arrays(table: Any, rows: list[dict[str, Any]], name: str) -> TableValuedAlias:
    columns = list(rows[0])
    return unnest(name, {c: (table.c[c].type, [row[c] for row in rows]) for c in columns})


async def update_rows(
    session: AsyncSession, table: Any, keys: list[str], rows: list[dict[str, Any]], **constant: Any
) -> None:
    """UPDATE each row matched on `keys` with its other values (and the `constant` ones)."""
    if not rows:
        return
    if is_postgres(session):
        given = _rows_as_arrays(table, rows, "given")
        values = {c: given.c[c] for c in rows[0] if c not in keys}
        await session.execute(
            update(table).where(and_(*(table.c[k] == given.c[k] for k in keys))).values(**values, **constant))
        return
    statement = update(table).where(and_(*(table.c[k] == bindparam(f"k_{k}") for k in keys))).values(
        **{c: bindparam(f"v_{c}") for c in rows[0] if c not in keys}, **constant)
    await session.execute(statement, [
        {(f"k_{c}" if c in keys else f"v_{c}"): v for c, v in row.items()} for row in rows])


def insert_rows_statement(session: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> Any:
    """An INSERT of the rows (dialect-specific, so ON CONFLICT clauses can follow) and the
    parameters to execute it with."""
    if is_postgres(session):
        given = _rows_as_arrays(table, rows, "given")
        columns = list(rows[0])
        return postgresql.insert(table).from_select(columns, select(*(given.c[c] for c in columns))), None
    return sqlite.insert(table), rows


def chunk_size(session: AsyncSession) -> int:
    return 50_000 if is_postgres(session) else 5000  # SQLite limits bound parameters


def where_in(session: AsyncSession, query: Any, column: Any, values: list[Any]) -> Any:
    """`query` restricted to rows whose `column` is one of `values`: a join with an unnested
    array on PostgreSQL (a long IN list plans far slower), IN on SQLite."""
    if is_postgres(session):
        given = unnest("given_values", {"value": (column.type, values)})
        return query.join(given, column == given.c.value)
    return query.where(column.in_(values))
