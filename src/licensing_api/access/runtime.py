"""The request path's per-worker state and background tasks, started by the app lifespan.

`open_hot_path` builds the content service, the access cache and guard, the usage tally and
the leases of the global limits; it runs the invalidation subscriber, the tally mover and the
lease renewals while the worker lives, and on graceful shutdown returns the leases and moves
what is left of the tally into Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from licensing_api.access.cache import AccessCache
from licensing_api.access.guard import AccessGuard
from licensing_api.access.openapi import add_security_schemes
from licensing_api.access.leases import GlobalLimits
from licensing_api.access.records import AccessRecord
from licensing_api.access.responses import install_respond_with_handler
from licensing_api.access.invalidation import register_local_cache
from licensing_api.access.subscriber import listen_for_invalidations
from licensing_api.bots.runtime import BotsRuntime
from licensing_api.content.service import ContentService, ContentSource
from licensing_api.content.store import FolderContentStore
from licensing_api.resources import Resources
from licensing_api.usage.tally import UsageTally

logger = logging.getLogger(__name__)

SUBSCRIBE_WAIT_SECONDS = 2.0  # well under a process manager's start-up timeout
LOOKUP_COUNTS_PUBLISH_SECONDS = 1.0


@dataclass(slots=True)
class HotPath:
    content: ContentSource
    cache: AccessCache
    guard: AccessGuard
    tally: UsageTally
    limits: GlobalLimits


@contextlib.asynccontextmanager
async def open_hot_path(
    app: FastAPI, resources: Resources, bots: BotsRuntime | None = None, content: ContentSource | None = None
) -> AsyncIterator[HotPath]:
    """`content`: what the content routes serve (default: the folder `CONTENT_DIR`)."""
    settings = resources.settings
    cache = AccessCache(settings.access_cache_ttl_seconds)
    register_local_cache(cache)
    # A cached record is at most one TTL old: keep its period total fresh a bit longer.
    tally = UsageTally(
        resources.redis,
        settings.redis_key_prefix,
        watch_seconds=settings.access_cache_ttl_seconds + 5,
    )
    interval = settings.tally_flush_interval_ms / 1000
    limits = GlobalLimits(resources.redis, settings.redis_key_prefix, tally, interval)
    if content is None:
        content = ContentService(FolderContentStore(settings.content_dir), settings.public_base_url)
    hot_path = HotPath(
        content=content,
        cache=cache,
        guard=AccessGuard(
            resources,
            cache,
            tally,
            limits,
            app.state.failed_key_lookups,  # security/failed_lookups.py
            app.state.crawler_standards,  # standards/service.py: pricer, offer, Link header
            bots,  # bots/runtime.py: key directories and seen nonces of verified bots
        ),
        tally=tally,
        limits=limits,
    )
    subscribed = asyncio.Event()
    stop_mover = asyncio.Event()
    subscriber = asyncio.create_task(
        listen_for_invalidations(resources.redis, settings.redis_key_prefix, cache, subscribed),
        name="access-invalidation-subscriber",
    )
    mover = asyncio.create_task(
        tally.run_mover(interval, stop_mover),
        name="usage-tally-mover",
    )
    renewals = asyncio.create_task(limits.run(stop_mover), name="limit-lease-renewals")
    lookup_counts = asyncio.create_task(
        publish_every(LOOKUP_COUNTS_PUBLISH_SECONDS, hot_path.guard.lookups.publish, stop_mover),
        name="access-cache-lookup-counts",
    )
    try:
        # Serve once invalidations are heard; a down Redis delays start-up by at most this
        # (the subscriber clears the cache whenever it subscribes, so nothing stale survives).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(subscribed.wait(), SUBSCRIBE_WAIT_SECONDS)
        yield hot_path
    finally:
        stop_mover.set()
        await mover
        await renewals
        await lookup_counts
        subscriber.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await subscriber
        await tally.final_move()


async def publish_every(seconds: float, publish: Callable[[], None], stop: asyncio.Event) -> None:
    """Call `publish` every `seconds` until `stop` is set, and once more then."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        publish()


def install_access(app: FastAPI) -> None:
    """App-level pieces of the request path: early responses and OpenAPI security schemes."""
    install_respond_with_handler(app)
    add_security_schemes(app)


def get_hot_path(request: Request) -> HotPath:
    return request.state.hot_path  # type: ignore[no-any-return]


async def authenticated_key(request: Request) -> AccessRecord:
    """A known, unrevoked key (account state not enforced): usage and key management."""
    return await request.state.hot_path.guard.authenticate(request)  # type: ignore[no-any-return]


HotPathDep = Annotated[HotPath, Depends(get_hot_path)]
AuthenticatedKey = Annotated[AccessRecord, Depends(authenticated_key)]
