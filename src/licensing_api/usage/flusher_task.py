"""The background flusher every worker starts; the advisory lock lets one of them flush.

Each worker wakes every `USAGE_FLUSH_INTERVAL_SECONDS` (with a little jitter, the first time
after one interval, not at start-up), tries the lock without waiting, and flushes if it holds
it. The holder keeps the lock between flushes, so exactly one worker flushes per interval;
when it dies or stops, PostgreSQL frees the lock and another worker takes over next time.
A failed flush (Redis, PostgreSQL or Stripe unreachable) loses nothing: the units stay in
Redis, the in-flight batch or the ledger, and the next flush picks them up.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import stripe
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from licensing_api.resources import Resources
from licensing_api.usage.flusher import flush_once
from licensing_api.usage.lock import FlusherLock
from licensing_api.usage.stripe_reporter import StripeMeterReporter

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 10.0
FLUSH_FAILURES = (RedisError, SQLAlchemyError, OSError, stripe.StripeError, asyncio.TimeoutError)


class UsageFlusherTask:
    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self.lock = FlusherLock(resources.engine, scope=resources.settings.redis_key_prefix)
        self.reporter = StripeMeterReporter(resources.stripe) if resources.stripe else None
        self.flushes = 0
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        interval = self.resources.settings.usage_flush_interval_seconds
        try:
            while not await self._sleep(interval * random.uniform(0.9, 1.1)):
                await self.tick()
        finally:
            await self.lock.release()

    async def tick(self) -> bool:
        """One interval's work: flush if this worker holds (or now takes) the lock."""
        try:
            if not await self.lock.try_acquire():
                return False
            await flush_once(self.resources, self.reporter)
            self.flushes += 1
            return True
        except FLUSH_FAILURES as exc:
            logger.warning("usage_flush_failed", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
            return False

    async def _sleep(self, seconds: float) -> bool:
        """True when asked to stop."""
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        return self._stop.is_set()


@asynccontextmanager
async def run_usage_flusher(resources: Resources) -> AsyncIterator[UsageFlusherTask]:
    """Run the flusher for the lifespan of a worker; on exit let a running flush finish
    (bounded), then release the lock. Cancelling mid-flush is safe, only slower to settle."""
    flusher = UsageFlusherTask(resources)
    task = asyncio.create_task(flusher.run(), name="usage-flusher")
    try:
        yield flusher
    finally:
        flusher.stop()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=SHUTDOWN_GRACE_SECONDS)
        except asyncio.TimeoutError:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        finally:
            await flusher.lock.release()
