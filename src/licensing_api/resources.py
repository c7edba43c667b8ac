"""What the lifespan builds once per worker process and every request or task shares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis
from stripe import StripeClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from licensing_api.billing.plans import PlanCatalogue
from licensing_api.billing.stripe_client import create_stripe_client, new_http_client
from licensing_api.db import close_sessionmaker, create_engine, create_sessionmaker
from licensing_api.embedded_redis import load_snapshot, save_snapshot
from licensing_api.redis import create_redis
from licensing_api.sealing import SecretSealer
from licensing_api.usage import redis_keys
from licensing_api.settings import Settings


@dataclass(slots=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis
    catalogue: PlanCatalogue
    stripe: StripeClient | None  # None: billing off
    sealer: SecretSealer  # short-lived secrets kept in the database

    def redis_key(self, *parts: str) -> str:
        """A namespaced Redis key or channel name, e.g. `licensing:usage:pending`."""
        return self.settings.redis_key_prefix + ":".join(parts)


@asynccontextmanager
async def open_resources(
    settings: Settings, catalogue: PlanCatalogue, *, keep_embedded_redis: bool = False
) -> AsyncIterator[Resources]:
    """Open the engine and Redis client for one process (app lifespan or CLI) and close them.

    `keep_embedded_redis` (the service, never the CLI: only the process that owns the
    in-process Redis may write its snapshot): with REDIS_URL=memory://, load the snapshot
    of the previous run and save one on the way out (`embedded_redis.py`).
    """
    engine = create_engine(settings.database_url)
    redis = create_redis(settings.redis_url, cluster=settings.redis_cluster)
    shards_before = redis_keys.use_shards(settings.usage_shard_count)
    embedded_file = settings.embedded_redis_file if (
        keep_embedded_redis and settings.redis_url == "memory://") else None
    if embedded_file is not None:
        await load_snapshot(redis, embedded_file)
    stripe_http = new_http_client()
    sessionmaker = create_sessionmaker(engine)
    try:
        yield Resources(
            settings=settings,
            engine=engine,
            sessionmaker=sessionmaker,
            redis=redis,
            catalogue=catalogue,
            stripe=create_stripe_client(settings, stripe_http),
            sealer=SecretSealer.from_settings(settings),
        )
    finally:
        await close_sessionmaker(sessionmaker)
        await stripe_http.close_async()
        if embedded_file is not None:
            await save_snapshot(redis, embedded_file)
        await redis.aclose()
        await engine.dispose()
        redis_keys.use_shards(shards_before)
