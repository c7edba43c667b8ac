"""The subscriber side of `access/invalidation.py`: each worker drops cache entries at once.

While the subscription is down (Redis restart, network), messages may be missed: the
worker clears its whole cache when it loses or (re)gains the subscription, and meanwhile
caches for at most `UNHEARD_TTL_SECONDS` (access/cache.py), which bounds staleness.
On a Redis Cluster the worker subscribes on one node (a published message reaches them all)
and moves to the next one when it loses it.
"""

from __future__ import annotations

import asyncio
import json
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from licensing_api.access.cache import AccessCache
from licensing_api.access.invalidation import apply_message, channel_name
from licensing_api.redis import any_node

logger = logging.getLogger(__name__)

RECONNECT_DELAY_SECONDS = 1.0


def apply_invalidation(cache: AccessCache, raw: bytes | str) -> None:
    try:
        message = json.loads(raw)
        if not isinstance(message, dict):
            raise ValueError("not an object")
        apply_message(cache, message)
    except ValueError:
        # Unreadable: dropping everything is always safe.
        logger.warning("access_invalidation_unreadable", extra={"size": len(raw)})
        cache.clear()


async def listen_for_invalidations(
    redis: Redis, redis_key_prefix: str, cache: AccessCache, subscribed: asyncio.Event
) -> None:
    """Run until cancelled: subscribe, apply every message, resubscribe after failures."""
    channel = channel_name(redis_key_prefix)
    cache.hearing_invalidations(False)
    turn = 0
    while True:
        try:
            async with any_node(redis, turn) as node:
                await _listen(node, channel, cache, subscribed)
        except (RedisError, OSError) as exc:
            subscribed.clear()
            cache.hearing_invalidations(False)
            cache.clear()
            logger.warning("access_invalidation_disconnected", extra={"error": type(exc).__name__})
            turn += 1  # on a Redis Cluster: the next node
            await asyncio.sleep(RECONNECT_DELAY_SECONDS)


async def _listen(redis: Redis, channel: str, cache: AccessCache, subscribed: asyncio.Event) -> None:
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(channel)
        cache.clear()  # anything cached before now may have missed a message
        cache.hearing_invalidations(True)
        subscribed.set()
        logger.info("access_invalidation_subscribed", extra={"channel": channel})
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is not None and message.get("type") == "message":
                apply_invalidation(cache, message["data"])
    finally:
        try:
            await pubsub.aclose()
        except (RedisError, OSError):
            pass
