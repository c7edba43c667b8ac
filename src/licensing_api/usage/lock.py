"""One active usage flusher at a time, across workers and hosts: a PostgreSQL advisory lock.

Why an advisory lock rather than a Redis lock with a fencing token:

- The flusher's writes go to PostgreSQL, so the lock lives where the writes are. A Redis lock
  needs a fencing token that every ledger write checks, and a monotonic token held in a Redis
  that can restart without persistence can go backwards, locking out the legitimate holder.
- A session-level advisory lock has no TTL to tune against flush duration or clock drift: it
  is held exactly as long as the holder's connection lives, and PostgreSQL drops it the
  moment the process dies (SIGKILL included), so a new flusher takes over within one interval.
- Correctness never depends on the lock. A lost connection can let two flushers overlap for a
  moment; that is still safe because a batch is written to the ledger at most once (the
  `usage_flushes` primary key is its flush id) and Stripe deduplicates meter events by their
  `identifier` (the report id). The lock only keeps the work, and the Stripe calls, single.

Cost: one pooled connection per active flusher, and it needs session-level pooling (a
transaction-pooling PgBouncer would break session locks). With SQLite (the embedded
single-process default) the lock is an in-process one.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

logger = logging.getLogger(__name__)

_HELD_IN_PROCESS: set[str] = set()  # SQLite: scopes whose lock this process holds


def advisory_lock_key(scope: str) -> int:
    """A stable signed 64-bit key for `pg_try_advisory_lock`, from a readable scope name."""
    digest = hashlib.sha256(f"licensing-api:usage-flusher:{scope}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class FlusherLock:
    """Non-blocking leadership: `try_acquire` each interval, `is_held` before each flush."""

    def __init__(self, engine: AsyncEngine, scope: str) -> None:
        self._engine = engine
        self._scope = scope
        self._key = advisory_lock_key(scope)
        self._connection: AsyncConnection | None = None
        self._local = False

    @property
    def held(self) -> bool:
        return self._connection is not None or self._local

    async def try_acquire(self) -> bool:
        if self.held:
            return await self.is_held()
        if self._engine.dialect.name != "postgresql":
            if self._scope in _HELD_IN_PROCESS:
                return False
            _HELD_IN_PROCESS.add(self._scope)
            self._local = True
            return True
        connection = await self._engine.connect()
        try:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            acquired = bool(
                await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key})
            )
        except BaseException:
            await _close_quietly(connection)
            raise
        if not acquired:
            await connection.close()
            return False
        self._connection = connection
        logger.info("usage_flusher_lock_acquired", extra={"scope": self._scope})
        return True

    async def is_held(self) -> bool:
        """False once the lock's connection is gone (PostgreSQL restarted, backend killed)."""
        if self._local:
            return True
        if self._connection is None:
            return False
        try:
            await self._connection.scalar(text("SELECT 1"))
            return True
        except (DBAPIError, SQLAlchemyError, OSError):
            logger.warning("usage_flusher_lock_lost", extra={"scope": self._scope})
            connection, self._connection = self._connection, None
            await _close_quietly(connection)
            return False

    async def release(self) -> None:
        if self._local:
            _HELD_IN_PROCESS.discard(self._scope)
            self._local = False
            return
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            await connection.close()
        except (DBAPIError, SQLAlchemyError, OSError):
            await _close_quietly(connection)  # the connection is gone, and the lock with it
        logger.info("usage_flusher_lock_released", extra={"scope": self._scope})


async def _close_quietly(connection: AsyncConnection) -> None:
    try:
        await connection.invalidate()
    except (DBAPIError, SQLAlchemyError, OSError):
        pass
    try:
        await connection.close()
    except (DBAPIError, SQLAlchemyError, OSError):
        pass
