"""Database failures an operator meets first, as one line naming the setting or the command.

An unreachable server, a missing database, refused credentials and a schema that was never
migrated all surface from SQLAlchemy, asyncpg or sqlite3 as long tracebacks; the CLI prints
`database_problem(...)` instead.
"""

from __future__ import annotations

import errno
import socket
import sqlite3

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

UPGRADE_COMMAND = "licensing-api db upgrade"
# PostgreSQL SQLSTATEs: https://www.postgresql.org/docs/current/errcodes-appendix.html
MISSING_DATABASE = "3D000"
REFUSED_LOGIN = ("28000", "28P01")
MISSING_SCHEMA = ("42P01", "42703")  # undefined table, undefined column
UNREACHABLE_ERRNOS = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN})


def database_problem(exc: BaseException, database_url: str) -> str | None:
    """One line saying what is wrong with DATABASE_URL and how to fix it; None if `exc` is
    not such a problem."""
    where = f"DATABASE_URL={without_password(database_url)}"
    chain = _chain(exc)
    # The driver's own exception (asyncpg) carries the SQLSTATE and the plainest message.
    driver = [cause for cause in chain if getattr(cause, "sqlstate", None)]
    for cause in driver[-1:] + chain:
        sqlstate = getattr(cause, "sqlstate", None)
        if sqlstate == MISSING_DATABASE:
            name = make_url(database_url).database
            return (f"database {name!r} does not exist ({where}); create it "
                    f"(createdb {name}) or point DATABASE_URL at one, then run {UPGRADE_COMMAND}")
        if sqlstate in REFUSED_LOGIN:
            return f"the database refused the login ({where}): {_first_line(cause)}; fix the user or password"
        if sqlstate in MISSING_SCHEMA or _sqlite_schema_missing(cause):
            return (f"the database has no licensing-api schema yet or an old one "
                    f"({_first_line(cause)}); run {UPGRADE_COMMAND}")
        if isinstance(cause, sqlite3.OperationalError) and "unable to open" in str(cause):
            return f"cannot open the SQLite file ({where}); check that its folder exists and is writable"
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve the database host ({where}): {cause.strerror}; fix the host name"
        if isinstance(cause, (ConnectionError, TimeoutError)) or (
            isinstance(cause, OSError) and cause.errno in UNREACHABLE_ERRNOS
        ):
            reason = cause.strerror or type(cause).__name__
            return f"cannot reach the database ({where}): {reason}; start it or fix DATABASE_URL"
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc`, the driver error SQLAlchemy wraps (`.orig`) and their causes, without cycles."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        pending.extend([getattr(current, "orig", None), current.__cause__, current.__context__])
    return seen


def _sqlite_schema_missing(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and str(exc).startswith(
        ("no such table", "no such column")
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def without_password(database_url: str) -> str:
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable)"
