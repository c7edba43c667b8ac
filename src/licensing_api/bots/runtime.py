"""What the bots need while a worker lives: the key directory fetcher, the nonce store, and
the task that refreshes key directories as their caching headers say.

The refresh needs no lock: each round claims the stale directories with one `UPDATE … WHERE
directory_fresh_until <= now RETURNING` that moves their freshness forward, so a directory is
fetched by one worker per round however many run the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from licensing_api.bots.directory import (
    MIN_FRESH_SECONDS,
    KeyDirectoryFetcher,
    directory_ssl_context,
)
from licensing_api.bots.models import Bot, BotStatus
from licensing_api.bots.nonces import NonceStore
from licensing_api.bots.service import refresh_directory
from licensing_api.db import session_scope, utcnow
from licensing_api.resources import Resources

logger = logging.getLogger(__name__)

REFRESH_INTERVAL_SECONDS = 30.0
REFRESH_BATCH = 50


@dataclass(slots=True)
class BotsRuntime:
    fetcher: KeyDirectoryFetcher
    nonces: NonceStore


async def claim_stale_directories(resources: Resources, now: datetime) -> list[uuid.UUID]:
    stale = (
        select(Bot.id)
        .where(Bot.status == BotStatus.ACTIVE, Bot.directory_url.is_not(None),
               Bot.directory_fresh_until <= now)
        .order_by(Bot.directory_fresh_until)
        .limit(REFRESH_BATCH)
    )
    async with session_scope(resources.sessionmaker) as session:
        claimed = await session.execute(
            update(Bot)
            .where(Bot.id.in_(stale), Bot.directory_fresh_until <= now)
            .values(directory_fresh_until=now + timedelta(seconds=MIN_FRESH_SECONDS))
            .returning(Bot.id)
        )
        return [row[0] for row in claimed]


async def refresh_stale_directories(
    resources: Resources, fetcher: KeyDirectoryFetcher, now: datetime | None = None
) -> int:
    """Fetch every directory whose freshness ran out by `now`; the number whose keys changed."""
    now = now or utcnow()
    changed = 0
    for bot_id in await claim_stale_directories(resources, now):
        async with session_scope(resources.sessionmaker) as session:
            bot = await session.get(Bot, bot_id)
            if bot is not None and bot.status == BotStatus.ACTIVE and bot.directory_url:
                changed += await refresh_directory(
                    session, resources.redis, resources.settings.redis_key_prefix, fetcher, bot, now
                )
    return changed


async def run_directory_refresh(resources: Resources, fetcher: KeyDirectoryFetcher, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), REFRESH_INTERVAL_SECONDS)
        if stop.is_set():
            return
        try:
            await refresh_stale_directories(resources, fetcher)
        except (SQLAlchemyError, RedisError, OSError) as exc:
            # Nothing is lost: the directories stay stale and the next round claims them.
            logger.warning("bot_directory_refresh_failed", extra={"error": type(exc).__name__})


@contextlib.asynccontextmanager
async def open_bots(resources: Resources) -> AsyncIterator[BotsRuntime]:
    fetcher = KeyDirectoryFetcher(directory_ssl_context(resources.settings.bot_directory_ca_file))
    runtime = BotsRuntime(fetcher, NonceStore(resources.redis, resources.settings.redis_key_prefix))
    stop = asyncio.Event()
    refresher = asyncio.create_task(run_directory_refresh(resources, fetcher, stop), name="bot-directory-refresh")
    try:
        yield runtime
    finally:
        stop.set()
        await refresher
        await fetcher.aclose()
