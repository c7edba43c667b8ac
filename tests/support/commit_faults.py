"""Faults at COMMIT, injected inside PostgreSQL: deferred constraint triggers.

A `DEFERRABLE INITIALLY DEFERRED` constraint trigger runs when its transaction commits, not
when the row is written: the INSERT or UPDATE and every flush succeed, and the COMMIT itself
fails (`failing_commit`) or takes longer (`slow_commit`). That is exactly the window in which
an answer sent before the commit would report a change that is not (yet) durable.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text

from licensing_api.db import create_engine


@asynccontextmanager
async def failing_commit(database_url: str, table: str, event: str = "INSERT") -> AsyncIterator[None]:
    """Every commit of a transaction that did `event` on `table` fails while the block runs.

    `event` is trigger syntax: "INSERT", "UPDATE OF status", "UPDATE", ….
    """
    async with _commit_trigger(database_url, table, event,
                               "RAISE EXCEPTION 'injected commit failure'") as installed:
        yield installed


@asynccontextmanager
async def slow_commit(database_url: str, table: str, seconds: float,
                      event: str = "INSERT") -> AsyncIterator[None]:
    """Every commit of a transaction that did `event` on `table` waits `seconds` first."""
    async with _commit_trigger(database_url, table, event, f"PERFORM pg_sleep({seconds:.3f})") as installed:
        yield installed


@asynccontextmanager
async def _commit_trigger(database_url: str, table: str, event: str, body: str) -> AsyncIterator[None]:
    name = f"commit_fault_{uuid.uuid4().hex[:8]}"
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(text(
            f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN {body}; RETURN NULL; END $$ "
            "LANGUAGE plpgsql"))
        await connection.execute(text(
            f"CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON {table} "
            f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {name}()"))
    try:
        yield None
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP TRIGGER {name} ON {table}"))
            await connection.execute(text(f"DROP FUNCTION {name}()"))
        await engine.dispose()
