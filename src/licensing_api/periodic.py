"""A round of work repeated every few seconds for the life of the app (grace checks, budget
notices): an outage of the database or Redis is logged and the next round tries again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger(__name__)

OUTAGES = (SQLAlchemyError, RedisError, OSError)


async def repeat(seconds: float, round_of_work: Callable[[], Awaitable[object]], failed_event: str) -> None:
    """Forever: wait `seconds`, run one round; an outage is logged as `failed_event`."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await round_of_work()
        except OUTAGES as exc:
            logger.warning(failed_event, extra={"error": type(exc).__name__})


@contextlib.asynccontextmanager
async def periodic_task(
    name: str, seconds: float, round_of_work: Callable[[], Awaitable[object]], failed_event: str
) -> AsyncIterator[None]:
    """Run `repeat` in the background while the block runs; cancelled when it ends."""
    task = asyncio.create_task(repeat(seconds, round_of_work, failed_event), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
