"""Database plumbing: the declarative base, column types, engine and sessions.

Sessions commit in exactly one place: `session_scope` (and the request dependency built
on it). Services and repositories flush, never commit.

Work registered with `after_commit` runs once the transaction has committed. It never turns
a committed unit of work into an error: a failure is logged and retried in the background
(`AfterCommitRetries`, one per sessionmaker) until it succeeds or its horizon passes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

logger = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    # A statement's parameters (key digests, emails) never reach an error message or log line.
    kwargs.setdefault("hide_parameters", True)
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(database_url, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_sessionmaker(
    engine: AsyncEngine, retries: AfterCommitRetries | None = None
) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False,
        info={AFTER_COMMIT_RETRIES: retries or AfterCommitRetries()},
    )


async def close_sessionmaker(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Stop retrying after-commit work of this sessionmaker's sessions (process shutdown)."""
    retries = sessionmaker.kw.get("info", {}).get(AFTER_COMMIT_RETRIES)
    if retries is not None:
        await retries.close()


AfterCommit = Callable[[], Awaitable[None]]
AFTER_COMMIT_RETRIES = "after_commit_retries"
RETRY_FIRST_DELAY_SECONDS = 0.5
RETRY_MAX_DELAY_SECONDS = 30.0
RETRY_HORIZON_SECONDS = 600.0  # a cache invalidation is moot long before; a notice is not


class AfterCommitRetries:
    """After-commit work that failed, retried with backoff in the background.

    Every piece of after-commit work is idempotent (a cache invalidation, a notice), so a
    retry is safe; one that still fails after `horizon` seconds is logged as abandoned.
    """

    def __init__(self, first_delay: float = RETRY_FIRST_DELAY_SECONDS,
                 horizon: float = RETRY_HORIZON_SECONDS) -> None:
        self.first_delay = first_delay
        self.horizon = horizon
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def retry(self, callback: AfterCommit) -> None:
        task = asyncio.get_running_loop().create_task(self._retry(callback), name="after-commit-retry")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _retry(self, callback: AfterCommit) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.horizon
        delay = self.first_delay
        attempt = 1
        while True:
            await asyncio.sleep(delay)
            attempt += 1
            try:
                await callback()
            except Exception as exc:  # kept for the next attempt, not dropped
                if loop.time() + delay > deadline:
                    logger.error("after_commit_abandoned", extra={
                        "work": _name_of(callback), "attempts": attempt, "error": type(exc).__name__})
                    return
                delay = min(delay * 2, RETRY_MAX_DELAY_SECONDS)
                continue
            logger.info("after_commit_retried", extra={"work": _name_of(callback), "attempts": attempt})
            return

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        if tasks:
            logger.warning("after_commit_abandoned_at_shutdown", extra={"count": len(tasks)})


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` once the session's transaction has committed; dropped on rollback.

    Used for side effects other processes must not see early, e.g. cache invalidation. The
    callback must be idempotent: if it fails it is retried later (see `AfterCommitRetries`).
    """
    session.info.setdefault("after_commit", []).append(callback)


CommitFailed = Callable[[Exception], Exception]


@asynccontextmanager
async def session_scope(
    sessionmaker: async_sessionmaker[AsyncSession], *, commit_failed: CommitFailed | None = None,
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error, then after-commit work.

    `commit_failed` turns an error of the commit itself into the caller's exception (a
    request answers "not saved"); errors of the work inside the block propagate unchanged.
    """
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await _discard(session)
            raise
        try:
            await session.commit()
        except Exception as exc:
            await _discard(session)
            if commit_failed is None:
                raise
            raise commit_failed(exc) from exc
        await run_after_commit(session)


async def run_after_commit(session: AsyncSession) -> None:
    """The committed session's after-commit work; what fails is handed to the retries."""
    retries = session.info.get(AFTER_COMMIT_RETRIES)
    for callback in session.info.pop("after_commit", []):
        try:
            await callback()
        except Exception as exc:  # the commit stands; the work is retried, not lost
            logger.warning("after_commit_failed", extra={
                "work": _name_of(callback), "error": type(exc).__name__})
            if retries is None:
                raise
            retries.retry(callback)


async def _discard(session: AsyncSession) -> None:
    session.info.pop("after_commit", None)
    try:
        await session.rollback()
    except Exception as exc:  # the connection is gone: nothing to roll back; keep the first error
        logger.warning("rollback_failed", extra={"error": type(exc).__name__})


def _name_of(callback: AfterCommit) -> str:
    return getattr(callback, "__qualname__", type(callback).__name__)
