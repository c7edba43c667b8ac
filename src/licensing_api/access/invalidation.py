"""Hot-path cache invalidation across every worker and host, over Redis pub/sub.

Whoever changes account or key state (key revoked, state machine transition, plan change)
calls `invalidate_after_commit`: once the transaction commits, one message goes to the
channel `{REDIS_KEY_PREFIX}access:invalidate`, and each worker's subscriber drops the
matching cache entries at once. Message body (JSON): `{"customer_id": "<uuid>"}` drops
every key of that customer, `{"key_digest": "<hex>"}` one key, `{"all": true}` everything.

The publishing process applies the message to its own caches first, without waiting for
the round trip through Redis: a worker that revoked a key refuses it on its very next
request, even while Redis is unreachable.
"""

from __future__ import annotations

import json
import uuid
import weakref
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.db import after_commit

if TYPE_CHECKING:  # cache.py imports the records, which import what imports this module
    from licensing_api.access.cache import AccessCache

CHANNEL = "access:invalidate"

_local_caches: weakref.WeakSet[AccessCache] = weakref.WeakSet()


def register_local_cache(cache: AccessCache) -> None:
    """Have this process's own invalidations reach `cache` at once (see the module's doc)."""
    _local_caches.add(cache)


def apply_message(cache: AccessCache, message: dict[str, Any]) -> None:
    """Drop what an invalidation message names; raises ValueError for a malformed id."""
    if "customer_id" in message:
        cache.drop_customer(uuid.UUID(str(message["customer_id"])))
    elif "key_digest" in message:
        cache.drop_digest(str(message["key_digest"]))
    else:
        cache.clear()


def channel_name(redis_key_prefix: str) -> str:
    return redis_key_prefix + CHANNEL


async def publish_invalidation(
    redis: Redis,
    redis_key_prefix: str,
    *,
    customer_id: uuid.UUID | None = None,
    key_digest: str | None = None,
) -> None:
    if customer_id is not None:
        message: dict[str, Any] = {"customer_id": str(customer_id)}
    elif key_digest is not None:
        message = {"key_digest": key_digest}
    else:
        message = {"all": True}
    for cache in list(_local_caches):
        apply_message(cache, message)
    await redis.publish(channel_name(redis_key_prefix), json.dumps(message))


def invalidate_after_commit(
    session: AsyncSession,
    redis: Redis,
    redis_key_prefix: str,
    *,
    customer_id: uuid.UUID | None = None,
    key_digest: str | None = None,
) -> None:
    async def publish() -> None:
        await publish_invalidation(
            redis, redis_key_prefix, customer_id=customer_id, key_digest=key_digest
        )

    after_commit(session, publish)
